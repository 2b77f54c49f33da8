"""The aiosmtpd handler: HELO/EHLO, MAIL, RCPT and DATA hooks, and the AUTH check.

Policy decisions live in policy.py; this module only wires them to the session and the store.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from smtpprobe.lab import policy
from smtpprobe.lab.store import ReceivedMessage

if TYPE_CHECKING:
    from smtpprobe.lab.protocol import LabSMTP
    from smtpprobe.lab.server import LabContext

# Extensions the lab implements (aiosmtpd answers pipelined commands in order, one line at a time).
_EXTRA_EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES")


class LabHandler:
    def __init__(self, lab: LabContext, listener: str):
        self.lab = lab
        self.listener = listener

    # -- HELO / EHLO -------------------------------------------------------------------------
    def _helo_refusal(self, session: Session, hostname: str) -> str | None:
        refusal = policy.helo_reply(hostname) if self.lab.config.hardened else None
        # aiosmtpd sets host_name only when no hook exists; the hook decides, and a refused
        # name also forgets an earlier accepted one (MAIL then gets 503 again).
        session.host_name = None if refusal else hostname
        return refusal

    async def handle_HELO(self, server: LabSMTP, session: Session, envelope: Envelope, hostname: str) -> str:
        return self._helo_refusal(session, hostname) or f"250 {server.hostname}"

    async def handle_EHLO(
        self, server: LabSMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        refusal = self._helo_refusal(session, hostname)
        if refusal:
            session.extended_smtp = False
            return [refusal]
        keywords = [line[4:] for line in responses[1:] if not line[4:].upper().startswith(("AUTH", "HELP"))]
        keywords[:0] = _EXTRA_EXTENSIONS
        if server.auth_advertised():
            keywords.append("AUTH PLAIN LOGIN")
        lines = [f"250-{server.hostname}"] + [f"250-{keyword}" for keyword in keywords]
        lines[-1] = "250 " + lines[-1][4:]
        return lines

    # -- envelope ----------------------------------------------------------------------------
    async def handle_MAIL(
        self, server: LabSMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: LabSMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        config = self.lab.config
        if config.hardened:
            if len(envelope.rcpt_tos) >= policy.RECIPIENT_LIMIT:
                return "452 4.5.3 Error: too many recipients"  # RFC 5321 §4.5.3.1.10: 452, not 552
            refusal = policy.recipient_reply(address, config.domains, may_relay=bool(session.authenticated))
            if refusal:
                return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: LabSMTP, session: Session, envelope: Envelope) -> str:
        store = self.lab.store
        queue_id = store.new_queue_id()
        peer = session.peer if isinstance(session.peer, tuple) else ("?", 0)
        message = ReceivedMessage(
            queue_id=queue_id,
            listener=self.listener,
            peer=(str(peer[0]), int(peer[1])),
            helo=session.host_name,
            mail_from=envelope.mail_from or "<>",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=envelope.original_content or b"",
            tls=server.tls_active,
            authenticated_as=session.auth_data if session.authenticated else None,
        )
        try:
            store.add(message)
        except OSError as error:
            return f"451 4.3.0 Error: cannot write message to the maildir: {error.strerror}"
        return f"250 2.0.0 Ok: queued as {queue_id}"

    # -- AUTH --------------------------------------------------------------------------------
    def authenticate(
        self, server: LabSMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            expected = self.lab.config.users.get(login)
            if expected is not None and hmac.compare_digest(expected.encode(), auth_data.password):
                return AuthResult(success=True, auth_data=login)
        # handled=False makes aiosmtpd send "535 5.7.8 Authentication credentials invalid";
        # the default handled=True would send nothing and leave the client hanging.
        return AuthResult(success=False, handled=False)
