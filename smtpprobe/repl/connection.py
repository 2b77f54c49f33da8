"""The REPL's connection: a Session that can look for a reply without treating silence as an error,
and a background thread that shows what the server says on its own (a 421, a close) at once.

One lock guards the session: the thread that sends a command holds it until the reply is read, so the
background reader never takes a reply meant for a command, nor reads during a TLS handshake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from smtpprobe.errors import ProtocolError, SmtpProbeError, TransportError, quote_bytes
from smtpprobe.protocol.reply import Reply
from smtpprobe.session import Session

POLL = 0.05  # seconds the background reader holds the lock per look; a command waits at most this long


class Closed(TransportError):
    """The server closed the connection (not recorded in the transcript: the caller says how)."""


class ReplSession(Session):
    # Reaches into Session's reader state (_replies, _reader, _recv, _record): a poll that returns None on
    # silence belongs in Session itself; until it is there, it lives here.
    def poll_reply(self, timeout: float) -> Reply | None:
        """The next whole reply if one arrives within `timeout`, else None. A part of a reply stays buffered
        for the next poll. Raises Closed when the server closes, ProtocolError on a malformed reply."""
        deadline = time.monotonic() + timeout
        while not self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if self.sock is None:
                raise Closed("not connected")
            data = self._recv(remaining)
            if data is None:
                return None
            if not data:
                partial = self._reader.in_progress
                mid = f" in the middle of a reply: {quote_bytes(partial)}" if partial else ""
                self.close()
                raise Closed(f"server closed the connection{mid}")
            try:
                self._replies.extend(self._reader.feed(data))
            except ProtocolError as exc:
                raise self._fail(exc) from None
        reply = self._replies.popleft()
        self._record(reply)
        return reply

    def wait_reply(self, timeout: float) -> Reply | None:
        """poll_reply in short steps, so Ctrl-C (KeyboardInterrupt) stops the wait between two."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            reply = self.poll_reply(min(remaining, 0.5))
            if reply is not None:
                return reply
        return None


class BackgroundReader:
    """Reads what arrives while nobody waits for a reply; calls on_reply / on_error (with the lock held,
    so its output comes before the next command's)."""

    def __init__(
        self,
        session: ReplSession,
        lock: threading.RLock,
        on_reply: Callable[[Reply], None],
        on_error: Callable[[SmtpProbeError], None],
    ):
        self.session, self.lock = session, lock
        self.on_reply, self.on_error = on_reply, on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smtpprobe-repl-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * POLL + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                if self._stop.is_set() or self.session.sock is None:
                    return
                try:
                    reply = self.session.poll_reply(POLL)
                except SmtpProbeError as exc:
                    self.on_error(exc)
                    return
                if reply is not None:
                    self.on_reply(reply)
            self._stop.wait(0.01)  # let a waiting command take the lock
