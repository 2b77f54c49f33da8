"""The report as Markdown: readable as plain text in a terminal or a mail, rendered nicely on a forge."""

from __future__ import annotations

import re

from smtpprobe.display import safe
from smtpprobe.doctor import facts as X
from smtpprobe.doctor.run import DoctorReport
from smtpprobe.doctor.verdict import Item


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall("`+", text)), default=0)


def code(text: str) -> str:
    """An inline code span that survives backticks in the text (server replies are arbitrary): its fence
    is one backtick longer than the longest run inside (CommonMark §6.1)."""
    text = safe(text.replace("\n", " "))
    if "`" not in text:
        return f"`{text}`"
    fence = "`" * (_longest_backtick_run(text) + 1)
    return f"{fence} {text} {fence}"


def _fence(lines: list[str]) -> list[str]:
    """A fenced code block that no line inside can close: the fence is longer than any backtick run in
    it (CommonMark §4.5). The lines are already display-safe (no CR, no control characters)."""
    fence = "`" * max(3, max((_longest_backtick_run(line) for line in lines), default=0) + 1)
    return [fence, *lines, fence]


def _plain(text: str) -> str:
    """Free text: control characters shown escaped, '<addr>' not read as an HTML tag, '|' not splitting a
    table cell."""
    return safe(text).replace("\\", "\\\\").replace("<", "\\<").replace("|", "\\|")


def render_markdown(r: DoctorReport, transcripts: bool = True) -> str:
    out = ["# smtpprobe doctor report", ""]
    out += ["| | |", "|---|---|"]
    out += [f"| {k} | {_plain(v)} |" for k, v in X.facts(r)]
    sentence, state = X.headline(r)
    mark = {"ok": "PASS", "fail": "FAIL", "incomplete": "INCOMPLETE"}[state]
    out += ["", "## Verdict", "", f"**{mark}: {sentence}**", ""]
    for key, title, intro in X.SECTIONS:
        items: list[Item] = getattr(r.verdict, key)
        if not items:
            continue
        out += [f"## {title}", "", intro, ""]
        for n, item in enumerate(items, 1):
            out += _item(n, item)
    if r.verdict.verified:
        out += ["## What the sender verified", ""]
        out += [f"- [x] {_plain(i.summary)}" + (f" ({i.ref})" if i.ref else "") for i in r.verdict.verified]
        out.append("")
    if transcripts and r.probes:
        out += ["## Transcripts", "", ("`->` sent by the sender, `<-` received, `<**` (`<~*` inside TLS) a refusal, `~>`/`<~` inside "
                "TLS, `***` an error. AUTH secrets are redacted."), ""]
        for p in r.probes:
            out += [f"### {_plain(X.probe_title(p))}", "", *_fence(X.transcript_lines(p)), ""]
    out += ["## Reproduce", "", *_fence([safe(X.command_line(r))]), ""]
    return "\n".join(out)


def _item(n: int, item: Item) -> list[str]:
    lines = [f"{n}. **{_plain(item.summary)}**" + (f" — `{item.id}`" if item.id else "")]
    if item.reply:
        lines.append(f"   - Reply: {code(item.reply)}")
    if item.meaning:
        lines.append(f"   - Meaning: {_plain(item.meaning)}")
    for fix in item.fix:
        lines.append(f"   - {_plain(fix)}")
    if item.ref:
        lines.append(f"   - Reference: {item.ref}")
    for command in item.commands:
        lines.append(f"   - Check: {code(command)}")
    lines.append("")
    return lines
