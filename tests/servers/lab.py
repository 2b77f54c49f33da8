"""Lab fixtures: the embedded server in both profiles, on loopback, every port picked free.

Session-scoped and shared: tests must not assume an empty `lab.messages` (mark messages with
something unique and look for it) and must not exhaust the per-client connection limit (start
a lab of their own with `lab_factory` for that).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Self

import pytest

from smtpprobe.lab import LabConfig, LabServer


def free_config(**overrides: object) -> LabConfig:
    """A LabConfig with port 0 for every listener, plus overrides."""
    values: dict[str, object] = {"host": "127.0.0.1", "port": 0, "submission_port": 0, "smtps_port": 0}
    values.update(overrides)
    return LabConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def lab_hardened() -> Iterator[LabServer]:
    with LabServer(free_config(profile="hardened")) as lab:
        yield lab


@pytest.fixture(scope="session")
def lab_open() -> Iterator[LabServer]:
    with LabServer(free_config(profile="open")) as lab:
        yield lab


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., LabServer]]:
    """Start a private lab with `lab_factory(profile=..., max_connections_per_client=...)`;
    stopped at the end of the test."""
    started: list[LabServer] = []

    def start(**overrides: object) -> LabServer:
        lab = LabServer(free_config(**overrides)).start()
        started.append(lab)
        return lab

    yield start
    for lab in started:
        lab.stop()


class Dialog:
    """A raw SMTP conversation over a socket, for tests that need exact bytes (smuggling, pipelining)
    or exact reply lines. Every read is bounded by `timeout`."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, tls_context: object = None):
        import socket
        import ssl

        sock = socket.create_connection((host, port), timeout=timeout)
        if isinstance(tls_context, ssl.SSLContext):
            sock = tls_context.wrap_socket(sock, server_hostname="mx.lab.test")
        self.sock = sock
        self.timeout = timeout
        self.file = sock.makefile("rb")

    def reply(self) -> tuple[int, list[str]]:
        """One reply: (code, text lines without the code)."""
        lines: list[str] = []
        while True:
            raw = self.file.readline(4096)
            if not raw:
                raise ConnectionError(f"connection closed, got {lines!r} so far")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines

    def line(self) -> str:
        """One reply as a single `code text` line (multi-line replies joined with ' / ')."""
        code, lines = self.reply()
        return f"{code} {' / '.join(lines)}"

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def cmd(self, command: str) -> str:
        self.send(command + "\r\n")
        return self.line()

    def starttls(self, context: object) -> None:
        import ssl

        assert isinstance(context, ssl.SSLContext)
        self.sock = context.wrap_socket(self.sock, server_hostname="mx.lab.test")
        self.file = self.sock.makefile("rb")

    def unsolicited(self, seconds: float) -> bytes | None:
        """What the server sends within `seconds` without being asked: None for silence, b"" for a
        close. Reads the socket directly: a timeout inside the buffered file would poison it."""
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(4096)
        except TimeoutError:
            return None
        finally:
            self.sock.settimeout(self.timeout)

    def closed_by_peer(self) -> bool:
        """True if the server has closed the connection (EOF within the timeout)."""
        try:
            return self.file.read(1) == b""
        except OSError:
            return True

    def close(self) -> None:
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
