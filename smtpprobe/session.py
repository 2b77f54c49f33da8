"""One SMTP connection: the only code that touches sockets and TLS. Records a Transcript.

Every wait is bounded: the connect timeout bounds the TCP connect, and each reply (the greeting included)
must arrive whole within the reply timeout, however slowly its bytes trickle in.
"""

from __future__ import annotations

import re
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable

from smtpprobe.errors import (
    ConnectionClosed,
    ProtocolError,
    Timeout,
    TLSFailure,
    TransportError,
    UsageError,
    quote_bytes,
)
from smtpprobe.protocol import ehlo as ehlo_ext
from smtpprobe.protocol.commands import command
from smtpprobe.protocol.reader import ReplyReader
from smtpprobe.protocol.reply import Reply
from smtpprobe.transcript import Transcript

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
SHOWN_MESSAGE_BYTES = 64 * 1024  # of a message's data, the transcript keeps this much (JSON stays small)


class Session:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 30.0,
        connect_timeout: float | None = None,
        greeting_timeout: float | None = None,
        local_address: str | None = None,
        local_port: int | None = None,
        family: int = socket.AF_UNSPEC,
        tls_verify: bool = False,
        tls_name: str | None = None,
        tls_ca_file: str | None = None,
        transcript: Transcript | None = None,
        tls_client: object | None = None,  # tls.ClientTLS: a client certificate, a pinned version or ciphers
        socket_path: str | None = None,  # a UNIX socket instead of TCP
        pipe_command: str | None = None,  # a command spoken to over its stdin/stdout instead of a socket
        proxy: dict | None = None,  # a PROXY header sent on connect: {version, source, source_port, dest, dest_port}
    ):
        self.host, self.port = host, port
        self.timeout = timeout
        self.connect_timeout = connect_timeout or timeout
        self.greeting_timeout = greeting_timeout or timeout  # postscreen-style greet waits can be long
        self.local_address, self.local_port = local_address, local_port
        self.family = family
        self.tls_verify = tls_verify
        self.tls_name = tls_name or host  # SNI and the name the certificate must carry
        self.tls_ca_file = tls_ca_file
        self.tls_client = tls_client
        self.socket_path, self.pipe_command = socket_path, pipe_command
        self.proxy = proxy
        self.process = None  # the --pipe child
        self.transcript = transcript or Transcript()
        self.sock: socket.socket | None = None
        self.tls = None  # TLSInfo once TLS is up
        self.extensions: dict[str, str] = {}
        self.peer: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None
        self._reader = ReplyReader()
        self._replies: deque[Reply] = deque()

    # -- connection ---------------------------------------------------------------------------------------
    def connect(self, implicit_tls: bool = False) -> None:
        if self.socket_path or self.pipe_command:
            self._connect_local()
        else:
            self._connect_tcp()
        if self.proxy:
            self.send_proxy_header(**self.proxy)
        if implicit_tls:
            self.start_tls()

    def send_proxy_header(self, version: int, source: str | None = None, source_port: int | None = None,
                          dest: str | None = None, dest_port: int | None = None) -> None:
        """A HAProxy PROXY header (v1 text or v2 binary) announcing another client, as a proxy in front of the
        server would send it before anything else; the addresses default to this connection's own ends."""
        from smtpprobe.protocol import proxy

        if self.local is None or self.peer is None or self.socket_path or self.pipe_command:
            raise UsageError("a PROXY header needs a TCP connection")
        source, dest = source or self.local[0], dest or self.peer[0]
        source_port = self.local[1] if source_port is None else source_port
        dest_port = self.peer[1] if dest_port is None else dest_port
        data = proxy.header(version, source, source_port, dest, dest_port)
        shown = data.decode().rstrip() if version == 1 else \
            f"PROXY v2 header, {len(data)} bytes: {source}:{source_port} -> {dest}:{dest_port}"
        self.send(data, shown=shown)

    def _connect_local(self) -> None:
        """A UNIX socket, or a socket pair whose other end is a child's stdin and stdout (swaks' --pipe): the rest
        of the session, timeouts and TLS included, cannot tell the difference."""
        if self.socket_path:
            self.transcript.info(f"Trying {self.socket_path}...")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(self.socket_path)
            except OSError as exc:
                sock.close()
                raise self._fail(TransportError(f"cannot connect to {self.socket_path}: {exc.strerror or exc}")) from None
            self.sock, self.peer = sock, (self.socket_path, 0)
            self.transcript.info(f"Connected to {self.socket_path}.")
            return
        import subprocess

        self.transcript.info(f"Trying pipe to {self.pipe_command}...")
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(self.pipe_command, shell=True, stdin=theirs, stdout=theirs,
                                            stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            ours.close()
            raise self._fail(TransportError(f"cannot run {self.pipe_command}: {exc.strerror or exc}")) from None
        finally:
            theirs.close()
        self.sock, self.peer = ours, ("pipe", 0)
        self.transcript.info(f"Started pipe to {self.pipe_command} (pid {self.process.pid}).")

    def _connect_tcp(self) -> None:
        try:
            infos = socket.getaddrinfo(self.host.strip("[]"), self.port, self.family, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise TransportError(f"cannot resolve {self.host}: {exc.strerror}") from None
        except UnicodeError:  # IDNA: a label over 63 characters, an empty label
            raise TransportError(f"cannot resolve {self.host[:80]}: not a valid host name") from None
        last_error: TransportError | None = None
        for family, kind, proto, _, address in infos:
            self.transcript.info(f"Trying {_hostport(address)}...")
            sock = socket.socket(family, kind, proto)
            try:
                self._bind(sock)
            except OSError as exc:  # this address's family, say: the next address may do
                sock.close()
                last_error = TransportError(f"cannot bind the source {self._source()}: {exc.strerror or exc}")
                continue
            try:
                sock.settimeout(self.connect_timeout)
                sock.connect(address)
            except TimeoutError:
                sock.close()
                last_error = Timeout(f"no TCP connection to {_hostport(address)} within {self.connect_timeout:g}s")
                continue
            except OSError as exc:
                sock.close()
                last_error = TransportError(f"cannot connect to {_hostport(address)}: {exc.strerror or exc}")
                continue
            self.sock, self.peer, self.local = sock, address[:2], sock.getsockname()[:2]
            source = f" from {_hostport(self.local)}" if self.local_address or self.local_port else ""
            self.transcript.info(f"Connected to {address[0]}{source}.")
            break
        else:
            error = last_error or TransportError(f"no address for {self.host}")
            self.transcript.error(str(error))
            raise error

    def _bind(self, sock: socket.socket) -> None:
        """The source address and port, when given. A fixed port is often still in TIME_WAIT from the run
        before (a --drop-after hangs up first): SO_REUSEADDR lets us bind it again."""
        if self.local_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.local_address or self.local_port:
            sock.bind((self.local_address or "", self.local_port or 0))

    def _source(self) -> str:
        if self.local_port:
            return _hostport((self.local_address or "*", self.local_port))
        return self.local_address or ""

    def start_tls(self) -> None:
        """TLS handshake on the open connection (after a 220 to STARTTLS, or at once for port 465)."""
        from smtpprobe.tls import handshake

        assert self.sock is not None
        if self._replies or self._reader.in_progress:
            # Bytes after the 220 to STARTTLS came in plaintext, to be read as if inside TLS: an injection
            # (CVE-2011-0411's response variant). Refuse rather than trust or silently drop them.
            raise self._fail(TLSFailure("the server sent plaintext after its 220 to STARTTLS (response injection); "
                                        "refusing to start TLS"))
        try:
            self.sock, self.tls = handshake(self.sock, self.tls_name, self.tls_verify, self.timeout, self.tls_ca_file,
                                            self.tls_client)
        except Exception as exc:
            self.transcript.error(str(exc))
            raise
        for line in self.tls.summary_lines():
            self.transcript.info(line)
        self._reader = ReplyReader()  # nothing read before TLS may be trusted after it
        self._replies.clear()
        self.extensions = {}

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
        if self.process is not None:  # its stdin is closed now: give it a moment to finish, then end it
            import subprocess

            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:  # the whole group: the shell's children too
                import os
                import signal

                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=2)
            self.process = None

    def __enter__(self) -> Session:  # noqa: PYI034 - typing.Self would import typing on send's fast path
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ------------------------------------------------------------------------------------------
    def send(self, data: bytes, shown: str | None = None, secret: str | None = None) -> None:
        """Send bytes as they are. `shown` replaces them in the transcript (a redacted AUTH line, say),
        `secret` keeps the real text for --show-secrets."""
        if self.sock is None:
            raise TransportError("not connected")
        ms = self.transcript.now()  # one write, one moment: a pipelined batch shows as such
        for line in [shown] if shown is not None else _display_lines(data):
            self.transcript.sent(line, tls=self.tls is not None, secret=secret, ms=ms)
        self._sendall(data)

    def send_message(self, payload: Iterable[bytes], limit: int = SHOWN_MESSAGE_BYTES, summary: bool = True) -> int:
        """Send a message's wire bytes (after the 354, or a BDAT chunk's) piece by piece: a large message is
        never whole in memory, and the transcript shows its first LIMIT bytes, then (SUMMARY) how much more
        was sent. Returns the number of bytes shown."""
        head, total, shown = bytearray(), 0, -1
        for chunk in payload:
            if shown < 0:
                head += chunk[: max(limit - len(head), 0)]
                if len(head) >= limit:
                    shown = self._show_head(bytes(head), cut=True)
            self._sendall(chunk)
            total += len(chunk)
        if shown < 0:
            shown = self._show_head(bytes(head), cut=False)
        if summary and total > shown:
            self.transcript.info(f"message data: {total} bytes sent, the first {shown} shown above")
        return shown

    def _show_head(self, head: bytes, cut: bool) -> int:
        """Record the message's first lines (up to the last whole line when CUT); return the bytes shown."""
        if cut and b"\r\n" in head:
            head = head[: head.rfind(b"\r\n") + 2]
        ms = self.transcript.now()
        for line in _display_lines(head):
            self.transcript.sent(line, tls=self.tls is not None, ms=ms)
        return len(head)

    def _sendall(self, data: bytes) -> None:
        if self.sock is None:
            raise TransportError("not connected")
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except TimeoutError:
            raise self._fail(Timeout(f"server did not accept our data within {self.timeout:g}s")) from None
        except OSError as exc:
            raise self._fail(TransportError(f"connection lost while sending: {exc.strerror or exc}")) from None

    def command(self, line: str, shown: str | None = None, secret: str | None = None,
                sent: Callable[[], None] | None = None) -> Reply:
        """Send a command and read its reply; `sent` is called in between (--drop-after-send hangs up)."""
        verb, _, arg = line.partition(" ")
        self.send(command(verb, arg), shown=shown, secret=secret)
        if sent is not None:
            sent()
        return self.read_reply()

    def ehlo(self, name: str, verb: str = "EHLO", sent: Callable[[], None] | None = None) -> Reply:
        """EHLO (or LMTP's LHLO); a 2xx reply sets the extensions."""
        reply = self.command(f"{verb} {name}", sent=sent)
        if reply.category == 2:
            self.extensions = ehlo_ext.extensions(reply)
        return reply

    # -- receiving ----------------------------------------------------------------------------------------
    def read_reply(self, timeout: float | None = None) -> Reply:
        """The next reply, whole, within `timeout` seconds (default: the session's reply timeout)."""
        limit = self.timeout if timeout is None else timeout
        try:
            reply = self.poll_reply(limit)
        except ConnectionClosed as exc:
            raise self._fail(exc) from None
        if reply is None:
            partial = self._reader.in_progress
            got = f" (received so far: {quote_bytes(partial)})" if partial else ""
            raise self._fail(Timeout(f"no complete reply within {limit:g}s{got}"))
        return reply

    def poll_reply(self, timeout: float) -> Reply | None:
        """The next whole reply if one arrives within `timeout`, else None (silence is no error here: the
        REPL polls for what a server says on its own). A part of a reply stays buffered for the next call.
        Raises ConnectionClosed, not recorded (the caller says how), or ProtocolError, recorded."""
        deadline = time.monotonic() + timeout
        while not self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if self.sock is None:
                raise ConnectionClosed("not connected")
            data = self._recv(remaining)
            if data is None:
                return None
            if not data:
                partial = self._reader.in_progress
                mid = f" in the middle of a reply: {quote_bytes(partial)}" if partial else ""
                raise ConnectionClosed(f"server closed the connection{mid}")
            try:
                self._replies.extend(self._reader.feed(data))
            except ProtocolError as exc:
                raise self._fail(exc) from None
        reply = self._replies.popleft()
        self._record(reply)
        return reply

    def wait_closed(self, timeout: float) -> bool:
        """True when the server closes the connection within `timeout` (what it sends meanwhile is read
        and recorded)."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.read_reply(timeout=remaining)
            except Timeout:
                return False
            except TransportError:
                return True
        return False

    def _recv(self, timeout: float) -> bytes | None:
        assert self.sock is not None
        try:
            self.sock.settimeout(timeout)
            return self.sock.recv(65536)
        except TimeoutError:
            return None
        except OSError as exc:  # ssl.SSLError included (not imported: ssl costs 3 ms a plain session does not need)
            raise self._fail(TransportError(f"connection lost: {exc.strerror or exc}")) from None

    def _record(self, reply: Reply) -> None:
        refused = reply.category in (4, 5)
        for line in reply.wire_lines():
            self.transcript.received(line, tls=self.tls is not None, refused=refused)
        if reply.lf_only:
            self.transcript.info("reply line ended in a bare LF (RFC 5321 §2.3.8 requires CRLF); tolerated")

    def _fail(self, error: Exception) -> Exception:
        self.transcript.error(str(error))
        return error


def _display_lines(data: bytes) -> list[str]:
    r"""How sent bytes appear in the transcript: one entry per CRLF-ended line, with any other control
    character (a bare LF, a NUL) shown escaped, so rule-breaking probes are visible as such."""
    parts = data.split(b"\r\n")
    if parts and parts[-1] == b"":
        parts.pop()
    shown = []
    for part in parts:
        text = part.decode("utf-8", errors="backslashreplace")
        shown.append(_CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode(), text))
    if not data.endswith(b"\r\n") and shown:
        shown[-1] += "  (no CRLF)"
    return shown


def _hostport(address: tuple) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
