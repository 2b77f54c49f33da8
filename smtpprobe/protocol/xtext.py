"""xtext (RFC 3461 §4): the encoding of DSN ENVID/ORCPT values and Postfix XCLIENT attribute values."""

from __future__ import annotations


def encode(text: str) -> str:
    """Every byte outside '!'..'~', and '+' and '=', as +HH (upper-case hex)."""
    out = []
    for byte in text.encode("utf-8"):
        out.append(chr(byte) if 33 <= byte <= 126 and byte not in (43, 61) else f"+{byte:02X}")
    return "".join(out)
