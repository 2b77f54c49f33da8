"""LabServer: the lab's listeners on one asyncio loop in a background thread.

`start()` returns once every listener is bound (or raises LabStartError), `stop()` closes the
listeners and every open session. Also a context manager.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from smtpprobe.errors import TransportError
from smtpprobe.lab.config import LabConfig
from smtpprobe.lab.limits import ConnectionLimiter
from smtpprobe.lab.store import MessageStore, ReceivedMessage

START_TIMEOUT = 15.0  # bounded: binding a few sockets and making one EC key takes milliseconds
STOP_TIMEOUT = 10.0
DATA_SIZE_LIMIT = 10_240_000  # Postfix message_size_limit; advertised as SIZE


class LabStartError(TransportError):
    """A listener could not be bound (port in use, address not available...)."""


@dataclass
class LabContext:
    """What every session of one lab shares. Touched only on the lab's loop, except `store`."""

    config: LabConfig
    limiter: ConnectionLimiter
    store: MessageStore
    connections: set[Any] = field(default_factory=set)


@dataclass(frozen=True)
class Listening:
    name: str
    description: str  # e.g. "mx (STARTTLS)"
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.description} on {host}:{self.port}"


class LabServer:
    def __init__(
        self,
        config: LabConfig | None = None,
        on_message: Callable[[ReceivedMessage], None] | None = None,
    ):
        """`on_message` is called on the lab's thread for each accepted message (keep it quick)."""
        self.config = config or LabConfig()
        self.listening: dict[str, Listening] = {}
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self._store = MessageStore(self.config.keep_messages, self.config.maildir, on_message)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._context: LabContext | None = None
        self._tempdir: Path | None = None

    # -- what callers read -------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int | None:
        return self._port("mx")

    @property
    def submission_port(self) -> int | None:
        return self._port("submission")

    @property
    def smtps_port(self) -> int | None:
        return self._port("smtps")

    @property
    def hostname(self) -> str:
        return self.config.hostname

    @property
    def domains(self) -> tuple[str, ...]:
        return self.config.domains

    @property
    def users(self) -> dict[str, str]:
        return dict(self.config.users)

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Messages received so far (the last `keep_messages`), oldest first. A copy."""
        return self._store.messages

    def clear_messages(self) -> None:
        self._store.clear()

    def _port(self, name: str) -> int | None:
        listening = self.listening.get(name)
        return listening.port if listening else None

    # -- life cycle --------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("this LabServer is already started")
        ssl_context = self._prepare_tls()
        # aiosmtpd logs each bad command at WARNING; without a handler Python would print them.
        logging.getLogger("mail.log").addHandler(logging.NullHandler())
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._bind_all(ssl_context))
            except BaseException as error:  # noqa: BLE001 - handed to the starting thread, re-raised there
                failure.append(error)
                started.set()
                self._loop.close()
                return
            started.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="smtpprobe-lab", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT):
            self.stop()
            raise LabStartError(f"lab did not start within {START_TIMEOUT:g}s")
        if failure:
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
            self._cleanup_tempdir()
            error = failure[0]
            if isinstance(error, OSError):
                raise LabStartError(error.strerror or str(error)) from None
            raise error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._close_all(), loop)
            try:
                future.result(STOP_TIMEOUT)
            except Exception:  # stopping must not raise; the loop is stopped anyway
                logging.getLogger(__name__).debug("lab: closing sessions failed", exc_info=True)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT)
        self._thread = None
        self._loop = None
        self._cleanup_tempdir()

    # -- internals ---------------------------------------------------------------------------
    def _prepare_tls(self) -> ssl.SSLContext:
        from smtpprobe.lab import tlscert

        if self.config.cert is not None and self.config.key is not None:
            self.cert_path, self.key_path = Path(self.config.cert), Path(self.config.key)
        else:
            self._tempdir = Path(tempfile.mkdtemp(prefix="smtpprobe-lab-"))
            self.cert_path, self.key_path = tlscert.generate_self_signed(self.config.hostname, self._tempdir)
        try:
            return tlscert.server_context(self.cert_path, self.key_path)
        except BaseException:
            self._cleanup_tempdir()
            raise

    def _cleanup_tempdir(self) -> None:
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    async def _bind_all(self, ssl_context: ssl.SSLContext) -> None:
        from smtpprobe.lab.handler import LabHandler
        from smtpprobe.lab.protocol import LabSMTP, listener_specs

        config = self.config
        loop = asyncio.get_running_loop()
        context = LabContext(
            config, ConnectionLimiter(config.max_connections_per_client, config.rate_limit), self._store
        )
        self._context = context
        ports = {"mx": config.port, "submission": config.submission_port, "smtps": config.smtps_port}
        try:
            for name, spec in listener_specs(config.hardened).items():
                port = ports[name]
                if port is None:
                    continue
                handler = LabHandler(context, name)

                def factory(spec: Any = spec, handler: LabHandler = handler) -> LabSMTP:
                    return LabSMTP(
                        handler,
                        lab=context,
                        spec=spec,
                        hostname=config.hostname,
                        ident="ESMTP smtpprobe-lab",
                        tls_context=None if spec.implicit_tls else ssl_context,
                        require_starttls=spec.require_starttls,
                        auth_require_tls=False,  # LabSMTP decides (aiosmtpd ignores implicit TLS)
                        authenticator=handler.authenticate,
                        data_size_limit=DATA_SIZE_LIMIT,
                        timeout=config.timeout,
                        loop=loop,
                    )

                server = await loop.create_server(
                    factory, host=config.host, port=port, ssl=ssl_context if spec.implicit_tls else None
                )
                self._servers.append(server)
                bound = server.sockets[0].getsockname()
                self.listening[name] = Listening(name, spec.describe(), config.host, int(bound[1]))
        except OSError as error:
            await self._close_all()
            self.listening.clear()
            where = (
                f"{config.host}:{ports[name]}" if ":" not in config.host else f"[{config.host}]:{ports[name]}"
            )
            reason = os.strerror(error.errno) if error.errno else str(error)  # asyncio's text is long
            raise OSError(error.errno, f"cannot listen on {where} ({name}): {reason}") from None

    async def _close_all(self) -> None:
        for server in self._servers:
            server.close()
        if self._context is not None:
            for protocol in list(self._context.connections):
                if protocol.transport is not None:
                    protocol.transport.close()
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), STOP_TIMEOUT / 2)
            except (TimeoutError, OSError):
                pass
        self._servers.clear()
        # Let connection_lost callbacks and cancelled session tasks finish before the loop stops.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT / 2)
