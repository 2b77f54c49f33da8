"""LabSMTP: aiosmtpd's SMTP protocol with the lab's connection limits, texts and AUTH switch.

Imported only when a lab starts (aiosmtpd is not free to import).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, AnyStr

from aiosmtpd.smtp import SMTP

from smtpprobe.lab import replies

if TYPE_CHECKING:
    from smtpprobe.lab.server import LabContext


@dataclass(frozen=True)
class ListenerSpec:
    """One listener's role. `implicit_tls`: TLS from the first byte (RFC 8314); otherwise STARTTLS."""

    name: str  # "mx", "submission", "smtps"
    implicit_tls: bool
    require_starttls: bool
    auth: bool  # AUTH offered at all on this listener
    auth_require_tls: bool  # AUTH offered only once TLS is up
    auth_required: bool  # MAIL/RCPT/DATA need a successful AUTH (a submission service)

    def describe(self) -> str:
        tls = (
            "implicit TLS"
            if self.implicit_tls
            else ("STARTTLS required" if self.require_starttls else "STARTTLS")
        )
        auth = ", AUTH required" if self.auth_required else ""
        if self.auth and not self.auth_require_tls and not self.implicit_tls:
            auth += ", AUTH without TLS"
        return f"{self.name} ({tls}{auth})"


def listener_specs(hardened: bool) -> dict[str, ListenerSpec]:
    if hardened:
        return {
            # A public MX must not require TLS (RFC 3207 §4) and offers no AUTH (Postfix's default).
            "mx": ListenerSpec("mx", False, False, False, True, False),
            "submission": ListenerSpec("submission", False, True, True, True, True),
            "smtps": ListenerSpec("smtps", True, False, True, True, True),
        }
    # The failing server: STARTTLS offered but never needed, AUTH in clear text, nothing required.
    return {
        "mx": ListenerSpec("mx", False, False, True, False, False),
        "submission": ListenerSpec("submission", False, False, True, False, False),
        "smtps": ListenerSpec("smtps", True, False, True, False, False),
    }


_NEED_AUTH = frozenset({"MAIL", "RCPT", "DATA"})


class LabSMTP(SMTP):
    def __init__(self, handler: object, *, lab: LabContext, spec: ListenerSpec, **kwargs: object):
        self.lab = lab
        self.spec = spec
        self.client_ip = ""
        self._admitted = False
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]

    # -- connection limits -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # called again after STARTTLS with the TLS transport
        super().connection_made(transport)
        if first:
            peer = transport.get_extra_info("peername") or ("?", 0)
            self.client_ip = str(peer[0])
            self._admitted = self.lab.limiter.admit(self.client_ip)
            self.lab.connections.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        if self._admitted:
            self._admitted = False  # aiosmtpd may call this twice after a failed TLS handshake
            self.lab.limiter.release(self.client_ip)
        self.lab.connections.discard(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if not self._admitted:
            # Instead of the greeting, like Postfix's anvil; then hang up (RFC 5321 §3.1 allows 421).
            await self.push(f"421 4.7.0 {self.hostname} Error: too many connections from {self.client_ip}")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    # -- texts -------------------------------------------------------------------------------
    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            status = replies.rewrite(status)  # type: ignore[assignment]
        await super().push(status)

    async def check_helo_needed(self, helo: str = "HELO") -> bool:
        if not self.lab.config.hardened:
            return False  # the open profile takes MAIL without HELO, like smtpd_helo_required=no
        assert self.session is not None
        if not self.session.host_name:
            await self.push("503 5.5.1 Error: send HELO/EHLO first")
            return True
        return False

    async def check_auth_needed(self, caller_method: str) -> bool:
        # aiosmtpd's own auth_required/auth_require_tls look for STARTTLS only and would refuse AUTH
        # on the implicit-TLS listener, so the lab keeps both off there and decides here.
        assert self.session is not None
        if self.spec.auth_required and not self.session.authenticated and caller_method in _NEED_AUTH:
            await self.push("530 5.7.0 Authentication required")
            return True
        return False

    def auth_advertised(self) -> bool:
        return self.spec.auth and (self.tls_active or not self.spec.auth_require_tls)

    async def smtp_AUTH(self, arg: str) -> None:
        if not self.auth_advertised():
            # Postfix's text, also with smtpd_tls_auth_only before TLS: SASL is simply not there.
            await self.push("503 5.5.1 Error: authentication not enabled")
            return
        assert self.session is not None
        if self.envelope is not None and self.envelope.mail_from:
            await self.push("503 5.5.1 Error: MAIL transaction in progress")  # RFC 4954 §4
            return
        await super().smtp_AUTH(arg)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self.tls_active:
            # aiosmtpd would answer 220 and start a second handshake inside TLS (or 454 on smtps).
            await self.push("554 5.5.1 Error: TLS already active")
            return
        await super().smtp_STARTTLS(arg)

    @property
    def tls_active(self) -> bool:
        if self._tls_protocol is not None:
            return True
        return self.transport is not None and self.transport.get_extra_info("ssl_object") is not None
