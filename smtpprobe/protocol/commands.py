"""Formatting commands and message data for the wire (RFC 5321 §4.1, §4.5.2)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from smtpprobe.errors import UsageError

_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[rn0t\\])")
_SIMPLE_ESCAPES = {b"r": b"\r", b"n": b"\n", b"0": b"\x00", b"t": b"\t", b"\\": b"\\"}


def command(verb: str, argument: str = "") -> bytes:
    """One well-formed command line. CR or LF inside would smuggle a second command: refuse it
    (probes that want that send raw bytes on purpose)."""
    line = f"{verb} {argument}" if argument else verb
    if "\r" in line or "\n" in line:
        raise UsageError(f"command contains a line break: {line!r} (use raw bytes to send one on purpose)")
    return line.encode("utf-8") + b"\r\n"


def mail_from(address: str, parameters: str = "") -> bytes:
    return command("MAIL", f"FROM:<{address}>" + (f" {parameters}" if parameters else ""))


def rcpt_to(address: str, parameters: str = "") -> bytes:
    return command("RCPT", f"TO:<{address}>" + (f" {parameters}" if parameters else ""))


def unescape(text: str) -> bytes:
    r"""Raw bytes from text with escapes: \r \n \0 \t \\ and \xNN. For probes that break the rules."""

    def replace(match: re.Match[bytes]) -> bytes:
        token = match.group(1)
        return bytes([int(token[1:], 16)]) if token[:1] == b"x" else _SIMPLE_ESCAPES[token]

    return _ESCAPE.sub(replace, text.encode("utf-8"))


def data_payload(message: bytes) -> bytes:
    """The message as sent after DATA: line ends made CRLF, leading dots doubled, and the end-of-data
    line appended."""
    lines = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"


def data_payload_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """data_payload for a message that arrives in chunks (a large file): the same bytes, in pieces, never
    the whole message in memory. A CR at the end of a chunk waits for the next (it may start a CRLF)."""
    carry = b""
    at_line_start = True
    for chunk in chunks:
        data = carry + chunk
        carry = b""
        if data.endswith(b"\r"):
            data, carry = data[:-1], b"\r"
        if not data:
            continue
        text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n.", b"\n..")
        if at_line_start and text.startswith(b"."):
            text = b"." + text
        at_line_start = text.endswith(b"\n")
        yield text.replace(b"\n", b"\r\n")
    if carry:
        yield b"\r\n"
        at_line_start = True
    yield (b"" if at_line_start else b"\r\n") + b".\r\n"
