"""Turns received bytes into Replies, sans I/O, with hard bounds.

Like h11's receive buffer: line ends are searched only in bytes not yet scanned, and the buffer refuses to
grow past one line's limit, so an endless line or an endless multi-line reply is an error as soon as the
bound is crossed, not after it has filled memory.
"""

from __future__ import annotations

from smtpprobe.errors import ProtocolError
from smtpprobe.protocol.reply import Reply

MAX_LINE = 4096  # RFC 5321 §4.5.3.1.5 allows 512 octets; be generous, but bounded
MAX_LINES = 200  # lines in one multi-line reply (an EHLO reply has a dozen or two)


class ReplyReader:
    def __init__(self, max_line: int = MAX_LINE, max_lines: int = MAX_LINES):
        self.max_line = max_line
        self.max_lines = max_lines
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer already known to hold no LF
        self._pending: list[tuple[int, str, bytes, bool]] = []  # lines of the reply in progress

    @property
    def in_progress(self) -> bytes:
        """What has arrived of a reply not yet complete (for error messages)."""
        return b"".join(raw for _, _, raw, _ in self._pending) + bytes(self._buffer)

    def feed(self, data: bytes) -> list[Reply]:
        """Add received bytes; return every reply they complete, in order."""
        self._buffer += data
        replies: list[Reply] = []
        while True:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline < 0:
                self._scanned = len(self._buffer)
                if len(self._buffer) > self.max_line:
                    raise ProtocolError(f"reply line longer than {self.max_line} bytes", bytes(self._buffer))
                return replies
            raw = bytes(self._buffer[: newline + 1])
            del self._buffer[: newline + 1]
            self._scanned = 0
            if len(raw) > self.max_line:
                raise ProtocolError(f"reply line longer than {self.max_line} bytes", raw)
            reply = self._add_line(raw)
            if reply is not None:
                replies.append(reply)

    def _add_line(self, raw: bytes) -> Reply | None:
        lf_only = not raw.endswith(b"\r\n")
        line = raw[:-2] if not lf_only else raw[:-1]
        code, final, text = _parse_line(line, raw)
        if self._pending and self._pending[0][0] != code:
            raise ProtocolError(
                f"lines of one reply disagree on the code ({self._pending[0][0]} then {code})",
                self.in_progress + raw,
            )
        self._pending.append((code, text, raw, lf_only))
        if len(self._pending) > self.max_lines and not final:
            raise ProtocolError(f"multi-line reply longer than {self.max_lines} lines", self.in_progress)
        if not final:
            return None
        pending, self._pending = self._pending, []
        return Reply(
            code=code,
            lines=tuple(t for _, t, _, _ in pending),
            raw=b"".join(r for _, _, r, _ in pending),
            lf_only=any(lf for _, _, _, lf in pending),
        )


def _parse_line(line: bytes, raw: bytes) -> tuple[int, bool, str]:
    """'250-text' -> (250, False, 'text'); '250 text' or '250' -> (250, True, 'text')."""
    head = line[:3]
    if len(head) < 3 or not head.isdigit() or head[:1] not in b"12345":
        raise ProtocolError("malformed reply (no three-digit code)", raw)
    separator = line[3:4]
    if separator not in (b"", b" ", b"-"):
        raise ProtocolError("malformed reply (code not followed by space or hyphen)", raw)
    text = line[4:].decode("utf-8", errors="replace")
    if "\x00" in text:
        raise ProtocolError("malformed reply (NUL in reply text)", raw)
    return int(head), separator != b"-", text
