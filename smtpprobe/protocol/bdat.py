"""BDAT (RFC 3030 §2): the message in chunks of counted octets, no dot-stuffing, no end-of-data line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

CHUNK_SIZE = 1 << 20


def crlf(message: bytes) -> bytes:
    """Line ends made CRLF (RFC 5321 §2.3.8), ending in one."""
    text = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return (text if text.endswith(b"\n") else text + b"\n").replace(b"\n", b"\r\n")


def crlf_stream(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """crlf() for a message that arrives in pieces (a large file): the same bytes, never the whole message in
    memory. A CR at the end of a piece waits for the next (it may start a CRLF). No pieces: nothing."""
    carry, ended, started = b"", True, False
    for piece in pieces:
        data, carry = carry + piece, b""
        if data.endswith(b"\r"):
            data, carry = data[:-1], b"\r"
        if not data:
            continue
        text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        started, ended = True, text.endswith(b"\n")
        yield text.replace(b"\n", b"\r\n")
    if carry or (started and not ended):
        yield b"\r\n"


def stream(pieces: Iterable[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """`BDAT n` + n octets per chunk, the last one marked LAST (an empty message is one `BDAT 0 LAST`); at most
    SIZE octets of the message are held at a time."""
    buffer = bytearray()
    for text in crlf_stream(pieces):
        buffer += text
        while len(buffer) > size:  # more follows this chunk: it is not the last
            yield f"BDAT {size}\r\n".encode() + bytes(buffer[:size])
            del buffer[:size]
    yield f"BDAT {len(buffer)} LAST\r\n".encode() + bytes(buffer)


def chunks(message: bytes, size: int = CHUNK_SIZE) -> list[bytes]:
    """Every chunk of a message held in memory."""
    return list(stream([message] if message else [], size))
