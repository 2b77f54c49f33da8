"""SASL client mechanisms for AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195).

Each mechanism is a generator: it yields the responses to send (base64 text, the first being the initial
response or None) and receives each decoded server challenge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Generator

Steps = Generator[str | None, bytes, None]

# Our mechanisms need 1-3 round trips; a server answering every line with 334 would keep a client sending
# "*" for ever (RFC 4954 §4 lets the client cancel, not the server end it). Every SASL loop stops here.
MAX_ROUNDS = 10


def endless(rounds: int = MAX_ROUNDS) -> str:
    """The error when a server is still answering 334 after ROUNDS responses."""
    return f"the server still answers 334 after {rounds} SASL responses; giving up (an endless AUTH exchange)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def plain(user: str, password: str) -> Steps:
    yield _b64(b"\0" + user.encode() + b"\0" + password.encode())


def login(user: str, password: str) -> Steps:
    yield None
    yield _b64(user.encode())
    yield _b64(password.encode())


def cram_md5(user: str, password: str) -> Steps:
    challenge = yield None
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    yield _b64(f"{user} {digest}".encode())


MECHANISMS: dict[str, Callable[[str, str], Steps]] = {"PLAIN": plain, "LOGIN": login, "CRAM-MD5": cram_md5}
