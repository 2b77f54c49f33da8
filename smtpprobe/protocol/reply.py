"""A parsed SMTP reply (RFC 5321 §4.2) with its enhanced status code (RFC 3463) when present."""

from __future__ import annotations

import re
from dataclasses import dataclass

# RFC 3463: class "." subject "." detail; class is 2, 4 or 5, subject 1-3 digits, detail 1-3 digits.
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]  # the text of each line, after "NNN-" / "NNN "
    raw: bytes  # exactly what arrived, line ends included
    lf_only: bool = False  # some line ended in a bare LF instead of CRLF

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
