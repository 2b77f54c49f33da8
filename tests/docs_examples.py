"""The docs' examples, read from docs/**/*.md: every fenced block with a `$ ` command line that runs smtpprobe,
split into commands and the output each one printed. The convention is documented in docs/README.md
("Examples are tested"); tests/test_docs_examples.py runs them.

Pure: parsing and output normalization only; running is in the test module."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).parent.parent / "docs"
PAGE_MARK = re.compile(r"^<!--\s*examples:\s*(.*?)\s*-->\s*$")  # the page's default target
BLOCK_MARK = re.compile(r"^<!--\s*example:\s*(.*?)\s*-->\s*$")  # this block's target
FILE_MARK = re.compile(r"^<!--\s*file:\s*(\S+?)\s*-->\s*$")  # the next block is this file's content
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")
SKIP_LINE = "..."  # in expected output: any number of lines (or the rest of a long line) left out


@dataclass
class Command:
    line: int  # where it starts in the page
    text: str  # the shell command, continuation lines joined
    expected: list[str] = field(default_factory=list)


@dataclass
class Example:
    page: str  # relative to docs/
    line: int
    target: str  # "none", "lab ...", "lab-open ...", "postfix-strict", "dns", "skip: why"
    commands: list[Command]

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def examples(root: Path = DOCS) -> list[Example]:
    found: list[Example] = []
    for path in [root.parent / "README.md", *sorted(root.rglob("*.md"))]:
        found += page_examples(path.read_text("utf-8"), os.path.relpath(path, root))
    return found


def page_examples(text: str, page: str) -> list[Example]:
    lines = text.splitlines()
    default, mark, found = "none", None, []
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := PAGE_MARK.match(line):
            default = m[1]
        elif m := BLOCK_MARK.match(line):
            mark = m[1]
        elif line.startswith("```"):
            end = _fence_end(lines, i)
            commands = _commands(lines[i + 1 : end], i + 2)
            if any("smtpprobe" in c.text for c in commands):
                found.append(Example(page, i + 1, mark or default, commands))
            mark, i = None, end
        elif line.strip():
            mark = None  # a marker applies to the block right after it
        i += 1
    return found


def page_files(text: str) -> dict[str, str]:
    """{path: content} of the blocks marked `<!-- file: PATH -->`: written to the page's scratch directory
    before its examples run, so an example can use the file the page shows."""
    lines, files = text.splitlines(), {}
    for i, line in enumerate(lines):
        if (m := FILE_MARK.match(line)) and i + 1 < len(lines) and lines[i + 1].startswith("```"):
            end = _fence_end(lines, i + 1)
            files[m[1]] = "\n".join(lines[i + 2 : end]) + "\n"
    return files


def _fence_end(lines: list[str], start: int) -> int:
    """The closing fence of the block opened at `start` (CommonMark: as many backticks or more, so a block
    fenced with ```` can show output that contains ```)."""
    fence = len(lines[start]) - len(lines[start].lstrip("`"))
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped and set(stripped) == {"`"} and len(stripped) >= fence:
            return j
    return len(lines)


def _commands(block: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    i = 0
    while i < len(block):
        line = block[i]
        if line.startswith("$ "):
            start, text = i, line[2:]
            while text.endswith("\\") and i + 1 < len(block):
                i += 1
                text = text[:-1].rstrip() + " " + block[i].strip()
            if heredoc := HEREDOC.search(text):  # the here-document's lines are input, not output
                while i + 1 < len(block):
                    i += 1
                    text += "\n" + block[i]
                    if block[i] == heredoc[1]:
                        break
            commands.append(Command(first_line + start, text))
        elif commands:
            commands[-1].expected.append(line)
        i += 1
    return commands


# -- comparing output ---------------------------------------------------------------------------------------

_VARIABLE = [
    (re.compile(r"/tmp/[\w./-]+"), "<TMP>"),
    (re.compile(r"\b\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\b"), "<DATE>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"), "<DATE>"),
    (re.compile(r"(?i)(message-id: )<[^>\s]+>"), r"\1<ID>"),
    (re.compile(r"(AUTH users: user/)\S+"), r"\1<PASSWORD>"),  # the lab's password, random without --user
    (re.compile(r"\b[0-9A-F]{10,12}\b"), "<QID>"),  # the lab's and Postfix's queue ids (Postfix: 10 to 12)
    (re.compile(r"(?<!\S)[A-Za-z0-9+/]{22}(?=(:R\d+)? Saved\b)"), "<QID>"),  # Dovecot LMTP's session ids
    (re.compile(r"\b\d[0-9A-Za-z]{5}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}\b"), "<QID>"),  # Exim's message ids (base 62)
    (re.compile(r"\(pid \d+\)"), "(pid <ID>)"),  # a --pipe command's process id
    # a message's size follows its Date and Message-Id (whose digits vary): MAIL's SIZE=, BDAT's chunk size
    (re.compile(r"\b(SIZE=|BDAT )\d+"), r"\1<SIZE>"),
    (re.compile(r"(?<=[:=])(\s?)\d{4,5}\b"), r"\1<PORT>"),  # 127.0.0.1:44013, PORT=44013, "port": 44013
    (
        re.compile(r"(PROXY TCP[46] \S+ \S+ )\d{1,5} \d{1,5}\b"),
        r"\1<PORT> <PORT>",
    ),  # the PROXY v1 line's ports
    (re.compile(r"\b(mx|submission|smtps|port|ports?) \d{4,5}\b"), r"\1 <PORT>"),
    (re.compile(r"\b\d{4,5}(?= \((mx|submission|smtps)\))"), "<PORT>"),  # doctor: 42591 (mx)
    (re.compile(r"(?<![\d.])\d+(\.\d+)?\s?(ms|s)\b"), "<TIME>"),  # 0.1s, 2.017 s, 12 ms
    (re.compile(r"(?<=\()\d+(?=/s\))"), "<NUM>"),  # audit's rate: "in 0.2s (23/s)"
    (re.compile(r"\b(p50|p95|max|second)(\"?:?\s+)\d+(\.\d+)?"), r"\1\2<NUM>"),  # latencies, rates: 2 or 2.5
    (re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])"), "<NUM>"),  # rates, averages
    (re.compile(r"-{3,}"), "---"),  # table rules, as wide as the columns
]


def normalize(text: str) -> list[str]:
    """Output as words, with what differs from run to run (times, ports, dates, ids, temp paths) replaced by
    placeholders. Words, not lines: a table's columns and where a cell wraps follow the width of the ports."""
    for pattern, placeholder in _VARIABLE:
        text = pattern.sub(placeholder, text)
    return text.split()


def matches(expected: list[str], actual: str) -> str | None:
    """None when `actual` shows what `expected` shows, else what is missing. A line `...` in `expected` stands
    for any output; a line ending in ` ...` leaves out the rest of that line."""
    segments: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == SKIP_LINE:
            segments.append([])
        elif line.rstrip().endswith(" ..."):
            segments[-1] += normalize(line.rstrip()[:-4])
            segments.append([])
        else:
            segments[-1] += normalize(line.replace("^C", ""))
    words = normalize(actual)
    if not any(line.strip() for line in expected):  # the page shows no output: there must be none
        return f"unexpected output: {' '.join(words)[:600]}" if words else None
    at = 0
    for n, segment in enumerate(segments):
        if not segment:
            continue
        found = _find(words, segment, at)
        if found is None or (n == 0 and found != 0):
            return _divergence(words, segment, at, anchored=n == 0)
        at = found + len(segment)
    if segments[-1] and at != len(words):
        return f"unexpected output at the end: {' '.join(words[at:])[:600]}"
    return None


def _divergence(words: list[str], segment: list[str], at: int, anchored: bool) -> str:
    """Where the expected words part from the output, at the start that agrees longest."""
    starts = [at] if anchored else range(at, max(at + 1, len(words)))
    best, best_len = at, -1
    for i in starts:
        n = 0
        while n < len(segment) and i + n < len(words) and words[i + n] == segment[n]:
            n += 1
        if n > best_len:
            best, best_len = i, n
    want = " ".join(segment[max(0, best_len - 8) : best_len + 12])
    got = " ".join(words[best + max(0, best_len - 8) : best + best_len + 12])
    return f"after {best_len} matching words, the page says:\n  {want}\nbut the command printed:\n  {got}"


def _find(words: list[str], segment: list[str], start: int) -> int | None:
    for i in range(start, len(words) - len(segment) + 1):
        if words[i : i + len(segment)] == segment:
            return i
    return None
