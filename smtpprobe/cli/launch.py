"""The `smtpprobe` console script. Answers `--help`, `--version` and a plain `send ...` without click (importing
it costs ~25 ms, more than swaks' whole start-up); everything else, and anything the lean `send` parser is not
sure about (an unknown option, a bad value, `send --help`), goes to the click group, which has the last word.
"""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["send"]:
        from smtpprobe.send.options import fast_parse

        opts = fast_parse(argv[1:])
        if opts is not None:
            from smtpprobe.cli.common import handle_errors
            from smtpprobe.send.run import send_main

            handle_errors(send_main)(opts)
            return
    elif argv in (["--help"], ["-h"], []):
        sys.stdout.write(group_help())
        return
    elif argv == ["--version"]:
        from smtpprobe import __version__

        print(f"smtpprobe, version {__version__}")
        return
    from smtpprobe.cli.group import main as group

    group()


def group_help() -> str:
    """The group's --help as click renders it (same layout and wrapping; a test compares the two). No shutil
    or textwrap: both import `re`, a third of this answer's import time."""
    import os

    from smtpprobe.cli import COMMANDS, HELP

    width = max(min(_terminal_columns(os), 80) - 2, 50)
    text = "".join(f"  {para}\n\n" for para in HELP.split("\n\n"))
    lines = [
        "Usage: smtpprobe [OPTIONS] COMMAND [ARGS]...",
        "",
        text.rstrip("\n"),
        "",
        "Options:",
        "  --version   Show the version and exit.",
        "  -h, --help  Show this message and exit.",
        "",
        "Commands:",
    ]
    first = max(len(name) for name in COMMANDS) + 2
    for name in sorted(COMMANDS):
        wrapped = _wrap(COMMANDS[name][1], max(width - first - 2, 10))
        lines.append(f"  {name:<{first}}{wrapped[0]}")
        lines += [" " * (first + 2) + more for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


def _terminal_columns(os) -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal's width, else 80."""
    try:
        return int(os.environ["COLUMNS"]) or 80
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap, as textwrap does for one-line text of ordinary words (hyphenated ones included)."""
    lines: list[str] = []
    for word in text.split():
        for k, piece in enumerate(_hyphen_pieces(word)):
            glue = "" if k else " "
            if lines and len(lines[-1]) + len(glue) + len(piece) <= width:
                lines[-1] += glue + piece
            else:
                lines.append(piece)
    return lines or [""]


def _hyphen_pieces(word: str) -> list[str]:
    """Where textwrap may break a word: after a hyphen with two letters before it and letters after
    ("MTA-STS." -> "MTA-", "STS.")."""
    pieces, start = [], 0
    for i in range(2, len(word) - 2):
        if (word[i] == "-" and word[i - 2 : i].isalpha() and word[i + 1].isalpha()
                and (word[i + 2].isalpha() or (word[i + 2] == "-" and word[i + 3 : i + 4].isalpha()))):
            pieces.append(word[start : i + 1])
            start = i + 1
    return [*pieces, word[start:]]
