"""The REPL's connection: a Session whose waits Ctrl-C can interrupt, and a background thread that shows what the server says on its own (a 421, a close) at once.

One lock guards the session: the thread that sends a command holds it until the reply is read, so the
background reader never takes a reply meant for a command, nor reads during a TLS handshake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from smtpprobe.errors import SmtpProbeError
from smtpprobe.protocol.reply import Reply
from smtpprobe.session import Session

POLL = 0.05  # seconds the background reader holds the lock per look; a command waits at most this long


class ReplSession(Session):
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
