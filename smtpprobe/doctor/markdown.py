"""The report as Markdown: readable as plain text in a terminal or a mail, rendered nicely on a forge."""

from __future__ import annotations

from smtpprobe.doctor import facts as X
from smtpprobe.doctor.run import DoctorReport
from smtpprobe.doctor.verdict import Item


def code(text: str) -> str:
    """An inline code span that survives backticks in the text (server replies are arbitrary)."""
    text = text.replace("\n", " ")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _plain(text: str) -> str:
    """Free text: keep '<addr>' from being read as an HTML tag, '|' from splitting a table cell."""
    return text.replace("\\", "\\\\").replace("<", "\\<").replace("|", "\\|")


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
        out += ["## Transcripts", "", "`->` sent by the sender, `<-` received, `<**` (`<~*` inside TLS) a refusal, `~>`/`<~` inside "
                "TLS, `***` an error. AUTH secrets are redacted.", ""]
        for p in r.probes:
            out += [f"### {X.probe_title(p)}", "", "```"] + [_fence_safe(line) for line in X.transcript_lines(p)]
            out += ["```", ""]
    out += ["## Reproduce", "", "```", X.command_line(r), "```", ""]
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


def _fence_safe(line: str) -> str:
    return line.replace("```", "`\u200b``")  # a reply holding a fence must not end the block
