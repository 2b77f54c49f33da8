"""LabSMTP: aiosmtpd's SMTP protocol with the lab's connection limits, texts and AUTH switch.

Imported only when a lab starts (aiosmtpd is not free to import).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, AnyStr

from aiosmtpd.smtp import SMTP

from smtpprobe.lab import replies, sync

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
MAX_DATA_LINE = 64 * 1024  # a DATA line this long ends the connection (RFC 5321 allows 1000 octets)
HANG_UP_GRACE = 5.0  # seconds for a closing (TLS) transport to go before it is aborted


class LabSMTP(SMTP):
    def __init__(self, handler: object, *, lab: LabContext, spec: ListenerSpec, **kwargs: object):
        self.lab = lab
        self.spec = spec
        self.client_ip = ""
        self._admitted = False
        self._in_auth = False  # AUTH is reading its own lines (not commands)
        self._overrun = False  # aiosmtpd is reading the rest of a line that was too long
        self._data_overrun = 0  # bytes of the DATA line being read past aiosmtpd's line limit
        self._read_line: Callable[[bytes], Awaitable[bytes]] | None = None
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
        if self.lab.config.hardened:
            if self.lab.config.greet_pause > 0:
                await asyncio.sleep(self.lab.config.greet_pause)  # like postscreen_greet_wait
            # Input already there (read, or waiting in the socket) came before the greeting: Postfix
            # answers 554 instead of the greeting and hangs up. Nothing awaits between this check
            # and the greeting, so talk that arrives later meets the per-command check instead.
            if self._input_pending():
                await self._hang_up(sync.SYNC_ERROR)
                return
        await super()._handle_client()

    # -- protocol synchronization (hardened) -------------------------------------------------
    def _cb_client_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super()._cb_client_connected(reader, writer)
        # aiosmtpd's command loop reads with reader.readuntil(); checking there sees the line's own
        # ending and what is buffered behind it, before the command runs (hardened), and bounds DATA.
        self._read_line = reader.readuntil
        reader.readuntil = self._checked_readuntil  # type: ignore[method-assign]

    async def _checked_readuntil(self, separator: bytes = b"\n") -> bytes:
        assert self._read_line is not None
        try:
            line = await self._read_line(separator)
        except asyncio.LimitOverrunError as exc:
            self._overrun = self._overrun or separator == b"\n"
            if separator == b"\r\n":
                # aiosmtpd keeps every piece of an over-long DATA line until its CRLF (to answer 500
                # after the dot): an endless line would grow the lab by every byte sent. Hang up first.
                self._data_overrun += exc.consumed
                if self._data_overrun > MAX_DATA_LINE:
                    await self._hang_up(f"500 5.5.0 {self.hostname} Error: message line longer than "
                                        f"{MAX_DATA_LINE} bytes (RFC 5321 4.5.3.1.6); closing")
                    raise ConnectionResetError("the lab hung up") from None
            raise
        if separator == b"\r\n":
            self._data_overrun = 0
        if not self.lab.config.hardened:
            return line
        if separator != b"\n" or self._in_auth:
            return line  # DATA reads up to CRLF itself; AUTH reads its answers, not commands
        if self._overrun:  # the tail of an over-long line: aiosmtpd answers 500 to it
            self._overrun = False
            return line
        refusal = sync.verdict(
            line,
            pending=self._input_pending(),
            pipelining=bool(self.session is not None and self.session.extended_smtp),
            hostname=self.hostname,
        )
        if refusal is None:
            return line
        await self._hang_up(refusal)
        raise ConnectionResetError("the lab hung up")  # not reached: the hang-up cancels this task

    def _input_pending(self) -> bool:
        if self._reader._buffer:  # type: ignore[attr-defined]  # (aiosmtpd clears it the same way)
            return True
        if self.transport is None or self.tls_active:
            return False  # inside TLS the socket holds records, not necessarily client commands
        sock = self.transport.get_extra_info("socket")
        return sock is not None and sync.socket_pending(sock.fileno()) > 0

    async def _hang_up(self, reply: str) -> None:
        await self.push(reply)
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None and not self.tls_active:
                sync.discard_pending(sock.fileno())  # so the close is a FIN, not a reset
            self.transport.close()
        # connection_lost() cancels this task as soon as the transport is gone, which ends the
        # session like a client hang-up; a TLS close that waits for the client is cut short.
        await asyncio.sleep(HANG_UP_GRACE)
        if self.transport is not None:
            self.transport.abort()
            await asyncio.sleep(HANG_UP_GRACE)

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
        self._in_auth = True
        try:
            await super().smtp_AUTH(arg)
        finally:
            self._in_auth = False

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
