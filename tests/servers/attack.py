"""A scripted SMTP server for attack tests: the test says what each command is answered with, and the
server counts what it received (lines, bytes), so a test can prove the client stopped.

    server = attack_server(replies={"RCPT": b"554 5.7.1 denied\x1b[2K\r250 2.1.5 Ok"}, auth=b"334 ")
    server.lines  # every command line received

Every loop is bounded: a connection ends when the client leaves, the test ends, MAX_SECONDS pass, or
MAX_LINES lines were read (an endless client loop shows as that count, never as a hung test).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

MAX_SECONDS = 30
MAX_LINES = 100_000

DEFAULTS = {
    "EHLO": b"250-attack.example\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN CRAM-MD5",
    "HELO": b"250 attack.example",
    "MAIL": b"250 2.1.0 Ok",
    "RCPT": b"250 2.1.5 Ok",
    "DATA": b"354 End data with <CR><LF>.<CR><LF>",
    ".": b"250 2.0.0 Ok: queued",
    "RSET": b"250 2.0.0 Ok",
    "NOOP": b"250 2.0.0 Ok",
    "QUIT": b"221 2.0.0 Bye",
    "AUTH": b"235 2.7.0 Authentication successful",
}


class AttackServer:
    def __init__(self, greeting: bytes = b"220 attack.example ESMTP", replies: dict[str, bytes] | None = None,
                 auth: bytes | None = None, default: bytes = b"502 5.5.2 Error: command not recognized",
                 tls_context: object = None, slow: dict[str, float] | None = None, hold: float = 0.0):
        """`replies` override DEFAULTS by verb; `auth` (b"334 ") answers AUTH and every line after it;
        `tls_context` (an ssl.SSLContext) makes it speak implicit TLS (port 465 style); `slow` delays
        the reply to a verb by seconds; `hold` waits that long before the greeting."""
        self.slow, self.hold = slow or {}, hold
        self.data_bytes = 0  # message bytes received after 354s
        self.connected_at: list[float] = []  # time.monotonic() of each accepted connection
        self.greeting, self.default, self.auth, self.tls_context = greeting, default, auth, tls_context
        self.replies = {**DEFAULTS, **(replies or {})}
        self.lines: list[bytes] = []
        self.connections = 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self.connected_at.append(time.monotonic())
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _reply(self, conn: socket.socket, text: bytes) -> None:
        lines = text.split(b"\r\n")
        conn.sendall(b"".join(line + b"\r\n" for line in lines))

    def _handle(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        try:
            conn.settimeout(5)
            if self.tls_context is not None:
                conn = self.tls_context.wrap_socket(conn, server_side=True)  # type: ignore[attr-defined]
            conn.settimeout(0.5)
            if self.hold and self.stop.wait(self.hold):
                return
            self._reply(conn, self.greeting)
            buffer, in_data, in_auth, count = b"", False, False, 0
            while not self.stop.is_set() and time.monotonic() < deadline and count < MAX_LINES:
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                buffer += chunk
                while True:
                    if in_data:  # message data: only the end-of-data line matters
                        end = buffer.find(b"\r\n.\r\n")
                        if end < 0:
                            self.data_bytes += max(0, len(buffer) - 4)
                            buffer = buffer[-4:]  # keep what may be the start of the end
                            break
                        self.data_bytes += end
                        buffer, in_data = buffer[end + 5 :], False
                        self._reply(conn, self.replies["."])
                        continue
                    if b"\n" not in buffer or count >= MAX_LINES:
                        break
                    line, buffer = buffer.split(b"\n", 1)
                    line = line.rstrip(b"\r")
                    count += 1
                    self.lines.append(line)
                    verb = line.split(b" ", 1)[0].decode("ascii", "replace").upper()
                    if verb in self.slow and self.stop.wait(self.slow[verb]):
                        return
                    if in_auth or (verb == "AUTH" and self.auth is not None):
                        in_auth = True
                        self._reply(conn, self.auth)  # type: ignore[arg-type]
                        continue
                    self._reply(conn, self.replies.get(verb, self.default))
                    if verb == "DATA" and self.replies["DATA"].startswith(b"354"):
                        in_data, buffer = True, b"\r\n" + buffer  # an empty message is just ".\r\n"
                    if verb == "QUIT":
                        return
        except OSError:
            pass  # the client went away
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def attack_server() -> Iterator[Callable[..., AttackServer]]:
    """attack_server(greeting=..., replies={...}, auth=...) -> a running server; closed when the test ends."""
    servers: list[AttackServer] = []

    def start(**kwargs) -> AttackServer:
        servers.append(AttackServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
