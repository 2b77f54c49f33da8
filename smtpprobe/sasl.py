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
