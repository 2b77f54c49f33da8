"""Plain-text layout for the tables people read (`run`, `audit`): a width of 80 to 120 columns, word wrap,
and a table whose cells wrap so that no line is wider than that. Text is wrapped, never cut: a 450-byte
SPF record or a 400-character DKIM key is shown whole, over several lines. Imports nothing of the
scenario machinery, so `audit` can use it."""

from __future__ import annotations

import shutil

WIDTH_MIN, WIDTH_MAX = 80, 120  # the table fits a terminal of this width; wider terminals get 120
DEFAULT_WIDTH = 100  # output that is not a terminal (a CI log, a pipe, a file)
FLEX_MIN = 16  # the wrapping column never gets narrower than this, however wide the others
NBSP = "\u00a0"


def fit_width(width: int | None) -> int:
    """The width to lay out for: a terminal's, kept within 80..120 columns; otherwise DEFAULT_WIDTH."""
    return DEFAULT_WIDTH if not width else max(WIDTH_MIN, min(WIDTH_MAX, width))


def terminal_width() -> int:
    """$COLUMNS, else the terminal's width, else DEFAULT_WIDTH."""
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    import textwrap

    for verb in ("MAIL FROM:", "RCPT TO:"):  # keep a command whole: a no-break space until wrapped
        text = text.replace(verb, verb.replace(" ", NBSP))
    lines = textwrap.wrap(  # a word longer than the width is broken, not cut
        text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    )
    return [line.replace(NBSP, " ") for line in lines] or [indent.rstrip()]


def cell_lines(text: str, width: int) -> list[str]:
    """A cell's text as lines of at most WIDTH. Its first line wraps as a paragraph; each further line (after
    a LF: a "  fix: ..." under a finding, an indented SPF tree line) wraps under its own indent."""
    first, *more = text.split("\n")
    out = [first] if len(first) <= width else wrap(first, width)
    for line in more:
        if len(line) <= width:
            out.append(line)
        else:
            body = line.lstrip(" ")
            indent = line[: len(line) - len(body)]
            out += wrap(body, width, indent if len(indent) <= width // 2 else "")
    return out


def grid(
    headers: list[str], rows: list[list[str]], width: int, paint=None, flex: int = -1,
    most: dict[int, int] | None = None,
) -> list[str]:
    """A plain-text table (tabulate's "simple" look) that fits `width`. Column `flex` (the last by default)
    takes the width the others leave and wraps; every other column is as wide as its widest line, or
    `most[column]` at most (its cells wrap too). A cell may hold several lines (LF). `paint(row, col, text)`
    styles a cell of a row's first line after it was measured (colour codes take no columns)."""
    count = len(headers)
    flex %= count
    most = most or {}
    natural = [max(_longest(cell) for cell in [headers[c], *(r[c] for r in rows)]) for c in range(count)]
    widths = [min(natural[c], most.get(c, natural[c])) for c in range(count)]
    others = sum(w for c, w in enumerate(widths) if c != flex)
    widths[flex] = min(natural[flex], max(FLEX_MIN, width - others - 2 * (count - 1)))

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    for i, row in enumerate(rows):
        pieces = [cell_lines(cell, w) for cell, w in zip(row, widths, strict=True)]
        first = [p[0] for p in pieces]
        text = line(first)
        if paint is not None:
            padded = [cell.ljust(w) for cell, w in zip(first, widths, strict=True)]
            text = "  ".join(paint(i, c, cell) for c, cell in enumerate(padded)).rstrip()
        out.append(text)
        for k in range(1, max(len(p) for p in pieces)):
            out.append(line([p[k] if k < len(p) else "" for p in pieces]))
    return out


def _longest(cell: str) -> int:
    return max(len(line) for line in cell.split("\n"))
