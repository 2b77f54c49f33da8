"""The I/O of a TLS scan: one connection per question (plain, or after EHLO/STARTTLS), our ClientHello
out, the server's flight in until hello.FlightParser has what it needs. Nothing here judges."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from smtpprobe.errors import TLSFailure, TransportError
from smtpprobe.protocol.reader import ReplyReader
from smtpprobe.protocol.reply import Reply
from smtpprobe.tlsscan.hello import Flight, FlightParser

MAX_SMTP_BYTES = 64 * 1024  # greeting + EHLO reply + STARTTLS reply, at most


class Busy(TransportError):
    """A 4xx greeting (421 too many connections): a limit, not an answer about TLS; worth asking again."""


RETRIES = 4  # a question refused by a connection limit is asked again after a pause (0.3 s, 0.6 s, ...)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    starttls: bool  # STARTTLS (ports 25, 587) or implicit TLS (465)
    helo: str = "smtpprobe.invalid"
    timeout: float = 5.0  # per connection and per read


def connect(ep: Endpoint) -> socket.socket:
    """A connection ready for a ClientHello: after `220` to STARTTLS on a STARTTLS port. Raises
    TransportError (cannot connect, no reply) or TLSFailure (STARTTLS not offered or refused)."""
    return open_channel(ep)[0]


def connect_patiently(ep: Endpoint) -> socket.socket:
    """connect(), asked again after a pause when a connection limit refuses it (RETRIES times)."""
    for attempt in range(RETRIES):
        try:
            return connect(ep)
        except Busy:
            time.sleep(0.3 * (attempt + 1))
    return connect(ep)


def open_channel(ep: Endpoint) -> tuple[socket.socket, str | None]:
    """connect(), and the name in the greeting (its first word) on a STARTTLS port."""
    try:
        sock = socket.create_connection((ep.host.strip("[]"), ep.port), timeout=ep.timeout)
    except TimeoutError:
        raise TransportError(f"connection to {ep.host}:{ep.port} timed out after {ep.timeout:g}s") from None
    except OSError as exc:
        raise TransportError(f"cannot connect to {ep.host}:{ep.port}: {exc.strerror or exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not ep.starttls:
        return sock, None
    try:
        reader = ReplyReader()
        greeting = _reply(sock, reader, ep)
        if greeting.code != 220:
            refusal = f"the server refused the connection: {greeting.wire_lines()[0][:200]}"
            raise Busy(refusal) if greeting.category == 4 else TLSFailure(refusal)
        sock.sendall(f"EHLO {ep.helo}\r\n".encode())
        ehlo = _reply(sock, reader, ep)
        if ehlo.code != 250 or not any(line.upper().startswith("STARTTLS") for line in ehlo.lines[1:]):
            raise TLSFailure("STARTTLS is not offered in the EHLO reply")
        sock.sendall(b"STARTTLS\r\n")
        answer = _reply(sock, reader, ep)
        if answer.code != 220:
            raise TLSFailure(f"STARTTLS refused: {answer.wire_lines()[0][:200]}")
        name = greeting_name(greeting)
    except TimeoutError:
        sock.close()
        raise TransportError(
            f"no greeting or reply within {ep.timeout:g}s before STARTTLS (an implicit-TLS port? try --tls-on-connect)"
        ) from None
    except OSError as exc:
        sock.close()
        raise TransportError(f"connection {exc.strerror or exc} before TLS") from None
    except BaseException:
        sock.close()
        raise
    return sock, name


def greeting_name(greeting: Reply) -> str | None:
    """The server's name: the first word of a 220 greeting (RFC 5321 §4.3.1), when it looks like one."""
    words = greeting.lines[0].split() if greeting.lines else []
    name = words[0] if words else ""
    ok = (
        0 < len(name) <= 253 and all(c.isascii() and (c.isalnum() or c in ".-") for c in name) and "." in name
    )
    return name if ok else None


def ask(ep: Endpoint, hello: bytes, want_key_exchange: bool = False, parser=None) -> Flight:
    """Send one ClientHello on a fresh connection; the server's answer (a hello, an alert, or nothing).
    A connection refused by a limit (Busy) is tried again, with pauses, before the error is raised.
    `parser`: another reader of the answer with FlightParser's shape (feed(); flight.hello, .alert, .error,
    .done), such as sslv2.AnswerParser."""
    sock = connect_patiently(ep)
    parser = parser or FlightParser(want_key_exchange)
    deadline = time.monotonic() + ep.timeout
    try:
        sock.sendall(hello)
        while not parser.flight.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                parser.flight.error = f"no complete answer within {ep.timeout:g}s"
                break
            sock.settimeout(remaining)
            data = sock.recv(16384)
            if not data:
                if parser.flight.hello is None and parser.flight.alert is None:
                    parser.flight.error = "the server closed the connection"
                break
            parser.feed(data)
    except TimeoutError:
        parser.flight.error = f"no complete answer within {ep.timeout:g}s"
    except OSError as exc:
        if parser.flight.hello is None:
            parser.flight.error = f"connection {exc.strerror or exc}"
    finally:
        sock.close()
    return parser.flight


def _reply(sock: socket.socket, reader: ReplyReader, ep: Endpoint) -> Reply:
    received = 0
    while True:
        data = sock.recv(4096)
        if not data:
            raise TransportError("the server closed the connection before TLS")
        received += len(data)
        replies = reader.feed(data)
        if replies:
            return replies[0]
        if received > MAX_SMTP_BYTES:
            raise TransportError("the server sent more than 64 KiB before TLS")
