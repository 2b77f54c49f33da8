"""A plain-text aiosmtpd server that offers AUTH PLAIN, LOGIN and CRAM-MD5 without TLS, advertises
PIPELINING, and keeps what it receives: for testing send's AUTH, pipelining and message options (the lab offers AUTH only over TLS)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.servers._common import free_port

USER, PASSWORD = "alice", "s3cret-pw"


@dataclass
class AuthTarget:
    port: int
    messages: list = field(default_factory=list)  # aiosmtpd Envelope objects


@pytest.fixture
def auth_target() -> Iterator[AuthTarget]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    target = AuthTarget(port=free_port())

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            # aiosmtpd reads commands in order from a stream, so it can pipeline; it just does not say so.
            return responses[:-1] + ["250-PIPELINING", responses[-1]]

        async def handle_DATA(self, server, session, envelope):
            target.messages.append(envelope)
            return "250 2.0.0 Ok: queued"

    def authenticator(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd then sends 535 on failure

    class CramSMTP(SMTP):
        async def auth_CRAM__MD5(self, _, args):  # aiosmtpd maps "__" to "-": AUTH CRAM-MD5
            challenge = b"<1896.697170952@auth.test>"
            response = await self.challenge_auth(challenge)
            if not isinstance(response, bytes):
                return AuthResult(success=False)
            user, _, digest = response.decode().partition(" ")
            expected = hmac.new(PASSWORD.encode(), challenge, hashlib.md5).hexdigest()
            return AuthResult(success=user == USER and hmac.compare_digest(digest, expected), handled=False)

    class AuthController(Controller):
        def factory(self):
            return CramSMTP(self.handler, authenticator=authenticator, auth_require_tls=False)

    controller = AuthController(Handler(), hostname="127.0.0.1", port=target.port)
    controller.start()
    yield target
    controller.stop()
