"""A parsed SMTP reply (RFC 5321 §4.2) with its enhanced status code (RFC 3463) when present."""

from __future__ import annotations

import re

# RFC 3463: class "." subject "." detail; class is 2, 4 or 5, subject 1-3 digits, detail 1-3 digits.
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


class Reply:
    """Immutable. A plain class, not a dataclass: `dataclasses` imports `inspect` (~6 ms of a `send`)."""

    __slots__ = ("code", "lf_only", "lines", "raw")
    code: int
    lines: tuple[str, ...]  # the text of each line, after "NNN-" / "NNN "
    raw: bytes  # exactly what arrived, line ends included
    lf_only: bool  # some line ended in a bare LF instead of CRLF

    def __init__(self, code: int, lines: tuple[str, ...], raw: bytes, lf_only: bool = False):
        for name, value in (("code", code), ("lines", lines), ("raw", raw), ("lf_only", lf_only)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Reply is immutable ({name})")

    def _key(self) -> tuple:
        return (self.code, self.lines, self.raw, self.lf_only)

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__ and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Reply(code={self.code!r}, lines={self.lines!r}, raw={self.raw!r}, lf_only={self.lf_only!r})"

    @property
    def enhanced(self) -> str | None:
        """The enhanced status code of the first line, if it carries one whose class matches the reply."""
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        return match.group(0) if match else None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def category(self) -> int:
        """2, 3, 4 or 5: the first digit."""
        return self.code // 100

    @property
    def ok(self) -> bool:
        return self.category in (2, 3)

    def wire_lines(self) -> list[str]:
        """Each line as the server sent it, without the line end: '250-PIPELINING', '250 OK'."""
        last = len(self.lines) - 1
        return [f"{self.code}{' ' if i == last else '-'}{line}".rstrip() for i, line in enumerate(self.lines)]

    def __str__(self) -> str:
        return " / ".join(self.wire_lines())

    def to_dict(self) -> dict:
        return {"code": self.code, "enhanced": self.enhanced, "lines": list(self.lines)}
