"""SASL client mechanisms for AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), CRAM-SHA1,
SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677; through scramp, which also checks the server's proof),
XOAUTH2 (Google's and Microsoft's) and OAUTHBEARER (RFC 7628) with an OAuth 2.0 access token as the password.

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


def cram_sha1(user: str, password: str) -> Steps:
    challenge = yield None
    digest = hmac.new(password.encode(), challenge, hashlib.sha1).hexdigest()
    yield _b64(f"{user} {digest}".encode())


class ServerProofError(Exception):
    """The server's SCRAM signature is wrong: it does not know the password (or is not who it says)."""


def _scram(name: str) -> Callable[[str, str], Steps]:
    def steps(user: str, password: str) -> Steps:
        from scramp import ScramClient, ScramException

        client = ScramClient([name], user, password)
        server_first = yield _b64(client.get_client_first().encode())
        try:
            client.set_server_first(server_first.decode())
            server_final = yield _b64(client.get_client_final().encode())
            client.set_server_final(server_final.decode())
        except (ScramException, UnicodeDecodeError) as exc:
            raise ServerProofError(f"{name}: {exc}") from None
        yield ""  # the server's final message came as a challenge: an empty response ends the exchange

    return steps


def xoauth2(user: str, token: str) -> Steps:
    """https://developers.google.com/gmail/imap/xoauth2-protocol: on failure the server sends a JSON error as
    a challenge, answered with an empty line, then the 5xx."""
    yield _b64(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())
    yield ""


def oauthbearer(user: str, token: str) -> Steps:
    """RFC 7628 §3.1: GS2 header with the authorization identity, then key=value pairs; a failure's JSON
    challenge is answered with a single ^A (§3.2.3)."""
    yield _b64(f"n,a={user.replace('=', '=3D').replace(',', '=2C')},\x01auth=Bearer {token}\x01\x01".encode())
    yield _b64(b"\x01")


MECHANISMS: dict[str, Callable[[str, str], Steps]] = {
    "PLAIN": plain,
    "LOGIN": login,
    "CRAM-MD5": cram_md5,
    "CRAM-SHA1": cram_sha1,
    "SCRAM-SHA-1": _scram("SCRAM-SHA-1"),
    "SCRAM-SHA-256": _scram("SCRAM-SHA-256"),
    "XOAUTH2": xoauth2,
    "OAUTHBEARER": oauthbearer,
}
