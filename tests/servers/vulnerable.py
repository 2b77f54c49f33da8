"""A purpose-built vulnerable SMTP server: every flaw the security probes look for, switchable one by one,
so that each probe's fail path is proven against a server that really has the flaw (not assumed).

    with VulnerableServer(Flaws(smuggle=True, inject=True)) as srv:   # srv.port, srv.messages
        ...

Fixtures: ``vulnerable_all`` (session; every flaw on, the server the fail cases run against) and
``vulnerable_factory`` (function; ``vulnerable_factory(**flaws)`` -> a started server, stopped after the
test). With no flaw set it behaves like a careful server (only CRLF.CRLF ends DATA, plaintext buffered
before TLS is discarded, VRFY 252, EXPN 502, ...).

Loopback only, a free port, one thread per connection; every read is bounded (MAX_SECONDS idle, 64 KiB
lines) so a test that forgets a connection cannot hang the run.
"""

from __future__ import annotations

import base64
import re
import select
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Self

import pytest

HOSTNAME = "mx.vuln.test"
DOMAIN = "lab.test"
USERS = {"postmaster", "user"}
AUTH = ("user", "password")
MAX_SECONDS = 30.0
MAX_BUFFER = 1 << 20
LAST_IN_GROUP = {"EHLO", "HELO", "DATA", "NOOP", "VRFY", "EXPN", "QUIT"}  # RFC 2920 §3.1
# Every bogus end-of-data the smuggling probes send; \r\n.\r\n itself matches too (earliest match wins).
ANY_EOD = re.compile(rb"(?:\r\n|\r|\n)\x00?\.\x00?(?:\r\r\n|\r\n|\r|\n)")
CRLF_EOD = re.compile(rb"\r\n\.\r\n")


@dataclass
class Flaws:
    smuggle: bool = False  # any of the bare end-of-data sequences ends DATA (CVE-2023-51764 and kin)
    inject: bool = False  # plaintext buffered before STARTTLS is run inside TLS (CVE-2011-0411)
    starttls_arg: bool = False  # `STARTTLS x` answered 220 instead of 501
    starttls_after_tls: bool = False  # STARTTLS still offered in the EHLO reply inside TLS
    early_ok: bool = True  # False: talk before the greeting gets 554 5.5.0 and a close (Postfix >= 3.9)
    pipelining_ok: bool = True  # False: a command not last in its group (RFC 2920 §3.1) gets 554 5.5.0
    vrfy_disclose: bool = False  # VRFY 250 for a user that exists, 550 for one that does not
    expn_disclose: bool = False  # EXPN likewise (else 502)
    bare_lf_ok: bool = True  # False: a command ended by a bare LF gets 550 5.5.2 (Postfix "reject")
    bare_cr_ends: bool = False  # a bare CR ends a command line (else the line is refused with 501)
    nul_ok: bool = False  # NUL in a command is dropped silently (else 501)
    args_ok: bool = False  # DATA, RSET, QUIT take arguments (else 501)
    max_line: int = 2048  # longer command lines get 500 5.5.2 line too long
    rcpt_limit: int = 1000
    rcpt_limit_reply: str = "452 4.5.3 Error: too many recipients"
    auth_in_clear: bool = False  # AUTH PLAIN offered and accepted before TLS
    auth_drop_after: int = 0  # hang up after this many failed AUTHs (0: never)
    auth_fail_reply: str = "535 5.7.8 Error: authentication failed"
    max_connections: int = 0  # more at once get 421 4.7.0 (0: unlimited)


ALL_FLAWS = Flaws(
    smuggle=True,
    inject=True,
    starttls_arg=True,
    starttls_after_tls=True,
    vrfy_disclose=True,
    expn_disclose=True,
    bare_cr_ends=True,
    nul_ok=True,
    args_ok=True,
    max_line=100_000,
    rcpt_limit=50,
    rcpt_limit_reply="552 5.5.3 too many recipients",
    auth_in_clear=True,
    auth_drop_after=1,
)


class _Closed(Exception):
    pass


class _Conn:
    def __init__(self, server: VulnerableServer, sock: socket.socket):
        self.srv, self.f, self.sock = server, server.flaws, sock
        self.buf = b""
        self.tls = False
        self.esmtp = False
        self.mail = False
        self.rcpts = 0
        self.auth_failures = 0
        sock.settimeout(MAX_SECONDS)

    # -- I/O -------------------------------------------------------------------------------------------
    def say(self, *lines: str) -> None:
        out = b"".join(
            f"{line[:3]}{'-' if i < len(lines) - 1 else ' '}{line[4:]}\r\n".encode()
            for i, line in enumerate(lines)
        )
        self.sock.sendall(out)

    def fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed
        self.buf += chunk
        if len(self.buf) > MAX_BUFFER:
            raise _Closed

    def pending(self) -> bool:
        if self.buf:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        return bool(select.select([self.sock], [], [], 0.05)[0])

    def line(self) -> bytes:
        while True:
            ends = [i for i in (self.buf.find(b"\n"),) if i >= 0]
            if self.f.bare_cr_ends:
                cr = re.search(rb"\r(?!\n)", self.buf)
                if cr and (cr.start() < len(self.buf) - 1):
                    ends.append(cr.start())
            if ends:
                end = min(ends)
                raw, self.buf = self.buf[: end + 1], self.buf[end + 1 :]
                return raw
            if len(self.buf) > 65536:
                raise _Closed
            self.fill()

    # -- the session -----------------------------------------------------------------------------------
    def run(self) -> None:
        if not self.f.early_ok and select.select([self.sock], [], [], 0.3)[0]:
            self.say("554 5.5.0 Error: SMTP protocol synchronization")
            return
        self.say(f"220 {HOSTNAME} ESMTP vulnerable by design")
        while True:
            raw = self.line()
            if not self.command(raw):
                return

    def command(self, raw: bytes) -> bool:
        if raw.endswith(b"\n") and not raw.endswith(b"\r\n") and not self.f.bare_lf_ok:
            self.say(f"550 5.5.2 {HOSTNAME} Error: bare <LF> received")
            return True
        text = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]  # one terminator: CRLF, LF, or CR
        if b"\x00" in text:
            if not self.f.nul_ok:
                self.say("501 5.5.2 Error: NUL character in command")
                return True
            text = text.replace(b"\x00", b"")
        if b"\r" in text:
            self.say("501 5.5.2 Error: bare <CR> in command")
            return True
        if len(raw) > self.f.max_line:
            self.say("500 5.5.2 Error: line too long")
            return True
        line = text.decode("utf-8", "replace")
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        handler = getattr(self, f"do_{verb}", None)
        if handler is None:
            self.say("500 5.5.2 Error: command not recognized")
            return True
        if not self.f.pipelining_ok and self.pending() and (verb in LAST_IN_GROUP or not self.esmtp):
            self.say("554 5.5.0 Error: SMTP protocol synchronization")
            return False
        return handler(arg.strip()) is not False

    def do_EHLO(self, arg: str) -> None:
        self.esmtp, self.mail, self.rcpts = True, False, 0
        lines = [f"250 {HOSTNAME}", "250 PIPELINING", "250 SIZE 10240000", "250 8BITMIME"]
        if not self.tls or self.f.starttls_after_tls:
            lines.append("250 STARTTLS")
        if self.tls or self.f.auth_in_clear:
            lines.append("250 AUTH PLAIN")
        self.say(*lines)

    def do_HELO(self, arg: str) -> None:
        self.esmtp, self.mail, self.rcpts = False, False, 0
        self.say(f"250 {HOSTNAME}")

    def do_MAIL(self, arg: str) -> None:
        self.mail, self.rcpts = True, 0
        self.say("250 2.1.0 Ok")

    def do_RCPT(self, arg: str) -> None:
        if not self.mail:
            self.say("503 5.5.1 Error: need MAIL command")
        elif not arg.lower().rstrip(">").endswith("@" + DOMAIN):
            self.say("554 5.7.1 Relay access denied")
        elif self.rcpts >= self.f.rcpt_limit:
            self.say(self.f.rcpt_limit_reply)
        else:
            self.rcpts += 1
            self.say("250 2.1.5 Ok")

    def do_DATA(self, arg: str) -> None:
        if arg and not self.f.args_ok:
            return self.say("501 5.5.4 Syntax: DATA")
        if not self.rcpts:
            return self.say("503 5.5.1 Error: need RCPT command")
        self.say("354 End data with <CR><LF>.<CR><LF>")
        eod = ANY_EOD if self.f.smuggle else CRLF_EOD
        data = b"\r\n" + self.buf  # DATA's own CRLF: a message may end at once
        while not (match := eod.search(data)):
            self.fill()
            data = b"\r\n" + self.buf
        self.buf = data[match.end() :]
        self.srv.messages.append(data[2 : match.start()])
        self.mail, self.rcpts = False, 0
        self.say(f"250 2.0.0 Ok: queued as {len(self.srv.messages)}")

    def do_RSET(self, arg: str) -> None:
        if arg and not self.f.args_ok:
            return self.say("501 5.5.4 Syntax: RSET")
        self.mail, self.rcpts = False, 0
        self.say("250 2.0.0 Ok")

    def do_NOOP(self, arg: str) -> None:
        self.say("250 2.0.0 Ok")

    def do_QUIT(self, arg: str) -> bool:
        if arg and not self.f.args_ok:
            self.say("501 5.5.4 Syntax: QUIT")
            return True
        self.say("221 2.0.0 Bye")
        return False

    def do_VRFY(self, arg: str) -> None:
        self._lookup(arg, self.f.vrfy_disclose, "252 2.0.0 Cannot VRFY user, but will attempt delivery")

    def do_EXPN(self, arg: str) -> None:
        self._lookup(arg, self.f.expn_disclose, "502 5.5.1 EXPN command is disabled")

    def _lookup(self, arg: str, disclose: bool, otherwise: str) -> None:
        user = arg.strip("<>").partition("@")[0].lower()
        if not disclose:
            self.say(otherwise)
        elif user in USERS:
            self.say(f"250 2.0.0 <{user}@{DOMAIN}>")
        else:
            self.say(f"550 5.1.1 <{arg}>: Recipient address rejected: User unknown")

    def do_STARTTLS(self, arg: str) -> bool:
        if arg and not self.f.starttls_arg:
            self.say("501 5.5.4 Syntax: STARTTLS")
            return True
        if self.tls:
            self.say("554 5.5.1 Error: TLS already active")
            return True
        self.say("220 2.0.0 Ready to start TLS")
        if not self.f.inject:
            self.buf = b""  # RFC 3207 §4.2: forget everything said before TLS
        try:
            self.sock = self.srv.tls_context.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError):
            return False
        self.tls, self.esmtp, self.mail, self.rcpts = True, False, False, 0
        return True

    def do_AUTH(self, arg: str) -> bool:
        if not (self.tls or self.f.auth_in_clear):
            self.say("503 5.5.1 Error: authentication not enabled")
            return True
        mech, _, initial = arg.partition(" ")
        if mech.upper() != "PLAIN":
            self.say("504 5.5.4 Unsupported authentication mechanism")
            return True
        if not initial:
            self.say("334 ")
            initial = self.line().decode("ascii", "replace").strip()
        try:
            _, user, password = base64.b64decode(initial, validate=True).decode().split("\0")
        except ValueError:
            self.say("501 5.5.2 Cannot decode response")
            return True
        if (user, password) == AUTH:
            self.say("235 2.7.0 Authentication successful")
            return True
        self.auth_failures += 1
        if self.f.auth_drop_after and self.auth_failures >= self.f.auth_drop_after:
            self.say("421 4.7.0 Too many authentication failures")
            return False
        self.say(self.f.auth_fail_reply)
        return True


class VulnerableServer:
    def __init__(self, flaws: Flaws | None = None):
        from tests.servers._certs import make_server_cert

        self.flaws = flaws or Flaws()
        self.messages: list[bytes] = []
        self._dir = tempfile.TemporaryDirectory(prefix="vulnsmtp-")
        cert, key = make_server_cert(Path(self._dir.name), [HOSTNAME, "127.0.0.1"])
        self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls_context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.host, self.port = "127.0.0.1", self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._open = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="vulnerable-smtp", daemon=True)

    def start(self) -> VulnerableServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self._dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        conn = _Conn(self, sock)
        with self._lock:
            self._open += 1
            over = self.flaws.max_connections and self._open > self.flaws.max_connections
        try:
            if over:
                conn.say(f"421 4.7.0 {HOSTNAME} Error: too many connections")
            else:
                conn.run()
        except (_Closed, OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._open -= 1
            try:
                conn.sock.close()
            except OSError:
                pass


@pytest.fixture(scope="session")
def vulnerable_all() -> Iterator[VulnerableServer]:
    with VulnerableServer(ALL_FLAWS) as server:
        yield server


@pytest.fixture
def vulnerable_factory() -> Iterator[Callable[..., VulnerableServer]]:
    started: list[VulnerableServer] = []
    known = {f.name for f in fields(Flaws)}

    def start(**flaws: object) -> VulnerableServer:
        unknown = set(flaws) - known
        assert not unknown, f"unknown flaws {unknown}"
        server = VulnerableServer(Flaws(**flaws)).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
