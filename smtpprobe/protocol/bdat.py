"""BDAT (RFC 3030 §2): the message in chunks of counted octets, no dot-stuffing, no end-of-data line."""

from __future__ import annotations


def crlf(message: bytes) -> bytes:
    """Line ends made CRLF (RFC 5321 §2.3.8), ending in one."""
    text = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return (text if text.endswith(b"\n") else text + b"\n").replace(b"\n", b"\r\n")


def chunks(message: bytes, size: int = 1 << 20) -> list[bytes]:
    """`BDAT n` + n octets per chunk, the last one marked LAST (an empty message is one `BDAT 0 LAST`)."""
    body = crlf(message) if message else b""
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [
        f"BDAT {len(p)}{' LAST' if i == len(parts) - 1 else ''}\r\n".encode() + p for i, p in enumerate(parts)
    ]
