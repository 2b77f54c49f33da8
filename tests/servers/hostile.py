"""Misbehaving SMTP servers, on loopback, for proving the client survives them.

Each behaviour is a function given the accepted socket and a stop event. Every loop is bounded: the
endless senders stop when the client goes away, when the test ends, or after MAX_SECONDS.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

MAX_SECONDS = 30
Behaviour = Callable[[socket.socket, threading.Event], None]


def _send_forever(conn: socket.socket, stop: threading.Event, first: bytes, chunk: bytes) -> None:
    conn.sendall(first)
    deadline = time.monotonic() + MAX_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        conn.sendall(chunk)


def _wait(stop: threading.Event, conn: socket.socket) -> None:
    """Keep the connection open, saying nothing, until the client leaves or the test ends."""
    conn.settimeout(0.2)
    deadline = time.monotonic() + MAX_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            if conn.recv(4096) == b"":
                return
        except TimeoutError:
            continue


def _read_line(conn: socket.socket) -> bytes:
    conn.settimeout(MAX_SECONDS)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def never_greets(conn, stop):
    _wait(stop, conn)


def greets_one_byte_a_second(conn, stop):
    for byte in b"220 slow.example ESMTP\r\n":
        if stop.wait(1.0):
            return
        conn.sendall(bytes([byte]))


def endless_multiline(conn, stop):
    _send_forever(conn, stop, b"220-endless.example\r\n", b"220-and more\r\n" * 64)


def endless_line(conn, stop):
    _send_forever(conn, stop, b"220 ", b"x" * 65536)


def binary_garbage(conn, stop):
    conn.sendall(os.urandom(64) + b"\r\n")
    _wait(stop, conn)


def closes_mid_reply(conn, stop):
    conn.sendall(b"220-hello\r\n220-wor")


def disagreeing_codes(conn, stop):
    conn.sendall(b"220-first line\r\n250 second line disagrees\r\n")
    _wait(stop, conn)


def _greet_and_ehlo(conn, extensions: list[bytes]) -> None:
    conn.sendall(b"220 hostile.example ESMTP\r\n")
    _read_line(conn)
    lines = [b"hostile.example"] + extensions
    conn.sendall(b"".join(b"250-" + l + b"\r\n" for l in lines[:-1]) + b"250 " + lines[-1] + b"\r\n")


def starttls_then_plaintext(conn, stop):
    """Says 220 to STARTTLS, then goes on in plaintext instead of a TLS handshake."""
    _greet_and_ehlo(conn, [b"PIPELINING", b"STARTTLS"])
    _read_line(conn)  # STARTTLS
    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
    time.sleep(0.3)
    conn.sendall(b"250 but this is plaintext\r\n")
    _wait(stop, conn)


def starttls_response_injection(conn, stop):
    """A reply injected right behind the 220 to STARTTLS, in the same segment (CVE-2011-0411 in reverse)."""
    _greet_and_ehlo(conn, [b"PIPELINING", b"STARTTLS"])
    _read_line(conn)  # STARTTLS
    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n250 injected\r\n")
    _wait(stop, conn)


def never_offers_starttls(conn, stop):
    _greet_and_ehlo(conn, [b"8BITMIME", b"SIZE 1000000"])
    while (line := _read_line(conn)) and not stop.is_set():
        if line.upper().startswith(b"QUIT"):
            conn.sendall(b"221 2.0.0 Bye\r\n")
            return
        conn.sendall(b"502 5.5.2 Error: command not recognized\r\n")


def knows_only_helo(conn, stop):
    """Not hostile, just old: RFC 821 only, so EHLO is an unknown command."""
    conn.sendall(b"220 old.example SMTP\r\n")
    answers = {
        b"EHLO": b"502 5.5.2 Error: command not recognized",
        b"HELO": b"250 old.example",
        b"MAIL": b"250 Ok",
        b"RCPT": b"250 Ok",
    }
    while (line := _read_line(conn)) and not stop.is_set():
        verb = line[:4].upper()
        if verb == b"QUIT":
            conn.sendall(b"221 Bye\r\n")
            return
        conn.sendall(answers.get(verb, b"500 what?") + b"\r\n")


def resets_connection(conn, stop):
    # SO_LINGER with a zero timeout makes close() send a RST instead of a FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def drops_during_tls_handshake(conn, stop):
    conn.settimeout(5)
    conn.recv(4096)  # the ClientHello
    conn.close()


BEHAVIOURS: dict[str, Behaviour] = {
    f.__name__: f
    for f in (
        never_greets,
        greets_one_byte_a_second,
        endless_multiline,
        endless_line,
        binary_garbage,
        closes_mid_reply,
        disagreeing_codes,
        starttls_then_plaintext,
        starttls_response_injection,
        never_offers_starttls,
        resets_connection,
        drops_during_tls_handshake,
        knows_only_helo,
    )
}


class HostileServer:
    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1"):
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.listener = socket.create_server((host, 0))
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
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn, self.stop)
        except OSError:
            pass  # the client went away: that is what these servers are for
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def hostile_server() -> Iterator[Callable[[str], HostileServer]]:
    """hostile_server("endless_line") -> a running server; all are closed when the test ends."""
    servers: list[HostileServer] = []

    def start(name: str) -> HostileServer:
        servers.append(HostileServer(BEHAVIOURS[name]))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
