"""The one display sanitizer: text from outside (replies, certificate fields, DNS text, banners) made safe
to show on a terminal or in a Markdown report.

A terminal interprets what it is sent: ESC starts cursor movement, colour, a window title or (OSC 52) a
write to the clipboard; a bare CR rewinds the line so later text overwrites earlier; U+202E reverses what
follows. Every character that is not printable (C0 and C1 controls, DEL, ESC, bidi overrides and isolates,
zero-width and other format characters, line and paragraph separators, unassigned and private-use code
points, non-space whitespace) is shown as a visible escape instead: `\\x1b`, `\\r`, `\\u202e`. Nothing is
removed, so what a server sent can still be read. JSON keeps the raw text; renderers call this.
"""

from __future__ import annotations

_NAMED = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe(text: str) -> str:
    """TEXT with every character that is not printable (space excepted) shown as a visible escape."""
    if text.isprintable():  # the common case, at C speed
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def safe_lines(text: str) -> str:
    """A block of several lines: each line made safe, the LF line ends kept."""
    return "\n".join(safe(line) for line in text.split("\n"))


def clip(text: str, limit: int) -> str:
    """Safe text cut to LIMIT characters (of the original), with '...' when cut."""
    return safe(text[:limit]) + ("..." if len(text) > limit else "")
