"""Ground truth for the compatibility tests: what really happens on a bed server, found with a raw-socket
client of our own (standard library only) and the server's own storage, never with smtpprobe.

``relay_truth(inst, mail, rcpt)``: sends one complete message MAIL FROM:<mail> / RCPT TO:<rcpt> (after
STARTTLS wherever it is offered: anyone can do that, so a relay behind a STARTTLS requirement is open; never
with AUTH: relaying for authenticated users is not an open relay), then reports whether that message
(found by a unique Subject in its own header) was routed to a foreign domain (``inst.relayed()``).

``smuggle_truth(inst, eod, split)``: a first message whose body ends with the fake end-of-data ``eod``,
followed by a complete second transaction; with ``split`` the bytes after ``eod`` go in a later write, sent
once the server has answered the first message (a vulnerable server answers at ``eod``) or after a short
bounded wait when it does not; a server that ended the message at ``eod`` and does not offer PIPELINING
gets the smuggled commands one at a time, as a conforming client sends them. Reports whether the second (smuggled) message landed in a local mailbox.
"""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from dataclasses import dataclass, field

from tests.servers._mta_bed import BedInstance

TIMEOUT = 8.0
HELO = "client.example.org"
SENDER = "probe@client.example.org"
SPLIT_WAIT = 1.0  # how long a server still in DATA may stay silent before the later write (bounded)


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the bed's self-signed certs; trust is not what is tested here
    return ctx


class Closed(Exception):
    pass


class Raw:
    def __init__(self, host: str, port: int, implicit_tls: bool = False) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b""
        self.log: list[str] = []
        if implicit_tls:
            self.sock = _tls_context().wrap_socket(self.sock, server_hostname="mx.lab.test")

    def reply(self, timeout: float = TIMEOUT) -> str:
        """One (multi-line) reply; Closed when the server hangs up first."""
        self.sock.settimeout(timeout)
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise Closed(" / ".join(lines))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                out = "\n".join(lines)
                self.log.append("S: " + out)
                return out

    def send(self, data: bytes) -> None:
        self.log.append("C: " + data.decode("utf-8", "replace").strip())
        self.sock.sendall(data)

    def cmd(self, line: str) -> str:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def starttls(self) -> bool:
        r = self.cmd("STARTTLS")
        if not r.startswith("220"):
            return False
        self.sock = _tls_context().wrap_socket(self.sock, server_hostname="mx.lab.test")
        self.buf = b""
        return self.cmd(f"EHLO {HELO}").startswith("250")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _open_session(inst: BedInstance, auth: bool, role: str = "mx") -> tuple[Raw, str]:
    """Connect to the port of `role`, EHLO, and satisfy the gates anyone can satisfy (STARTTLS where it is
    offered; AUTH only when `auth` and the instance has credentials). Returns the session and the EHLO reply."""
    raw = Raw(inst.host, inst.ports[role], implicit_tls=role == "smtps")
    raw.reply()
    ehlo = raw.cmd(f"EHLO {HELO}")
    creds = getattr(inst, "auth_user", None)
    if "STARTTLS" in ehlo and role != "smtps":
        raw.starttls()
    if auth and creds:
        import base64

        token = base64.b64encode(f"\0{creds}\0{inst.auth_password}".encode()).decode()  # type: ignore[attr-defined]
        raw.cmd(f"AUTH PLAIN {token}")
    return raw, ehlo


def _subject_in_header(msg: bytes, subject: str) -> bool:
    head = msg.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return f"Subject: {subject}".encode() in head


def _envelope_rcpts(msg: bytes) -> list[str]:
    head = msg.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    return re.findall(r"^(?:Delivered-To|Envelope-to):\s*<?([^>\s]+)", head, re.MULTILINE | re.IGNORECASE)


def _for_elsewhere(msg: bytes, inst: BedInstance) -> bool:
    """The catch-all copy's envelope recipient (Delivered-To / Envelope-to, as the server routed it) is at
    a domain other than the server's own names and address literal. A %-hack or bang path the server does
    not interpret stays addressed to itself: routed back to itself, it is no relay to the foreign domain."""
    rcpts = _envelope_rcpts(msg)
    own = {inst.local_domain, inst.myhostname, f"[{inst.host}]", inst.host}
    if not rcpts:
        return True  # no record of the recipient: count it (the conservative reading)
    return any(r.rsplit("@", 1)[-1].lower() not in own for r in rcpts[:1])


@dataclass
class Truth:
    happened: bool  # relayed / smuggled message delivered
    accepted: bool = False  # the server said 2xx to the message we sent (relay) or to the smuggled one
    transcript: list[str] = field(default_factory=list)
    evidence: str = ""


def relay_truth(inst: BedInstance, mail: str, rcpt: str, role: str = "mx") -> Truth:
    marker = f"bed-relay-{uuid.uuid4().hex[:12]}"
    raw, _ehlo = _open_session(inst, auth=False, role=role)
    accepted = False
    try:
        r_mail = raw.cmd(f"MAIL FROM:<{mail}>")
        if (
            r_mail.startswith("2")
            and raw.cmd(f"RCPT TO:<{rcpt}>").startswith("2")
            and raw.cmd("DATA").startswith("354")
        ):
            raw.send(f"Subject: {marker}\r\nFrom: <{mail}>\r\n\r\nrelay test\r\n.\r\n".encode())
            accepted = raw.reply().startswith("2")
        raw.cmd("QUIT")
    except (Closed, OSError):
        pass
    finally:
        raw.close()
    if inst.server == "chasquid":  # relayed() are queue items there: the marker is inside the stored data
        hits = [m for m in inst.relayed() if marker.encode() in m]
    else:  # the message itself (not a bounce quoting it), routed to a domain that is not the server's own
        hits = [m for m in inst.relayed() if _subject_in_header(m, marker) and _for_elsewhere(m, inst)]
    if hits:
        to = _envelope_rcpts(hits[0])
        evidence = f"relayed: {len(hits)} copy in the foreign-domain catch-all" + (
            f", routed to {to[0]}" if to else ""
        )
    else:
        evidence = "not relayed: nothing reached the foreign-domain catch-all"
    return Truth(bool(hits), accepted, raw.log, evidence)


def smuggle_truth(inst: BedInstance, eod: bytes, split: bool, role: str = "mx") -> Truth:
    marker = f"bed-smuggled-{uuid.uuid4().hex[:12]}"
    rcpt = inst.local_rcpt
    smuggled_message = f"From: <{SENDER}>\r\nSubject: {marker}\r\n\r\nsmuggled\r\n.\r\n".encode()
    smuggled = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode() + smuggled_message
    first = b"Subject: bed-smuggling-carrier\r\n\r\nThe first message." + eod
    raw, ehlo = _open_session(inst, auth=True, role=role)
    second_accepted = False
    try:
        if (
            raw.cmd(f"MAIL FROM:<{SENDER}>").startswith("2")
            and raw.cmd(f"RCPT TO:<{rcpt}>").startswith("2")
            and raw.cmd("DATA").startswith("354")
        ):
            early: list[str] = []
            if split:
                raw.send(first)
                try:
                    early.append(raw.reply(SPLIT_WAIT))  # a vulnerable server ended the message here
                except TimeoutError:
                    pass  # still in DATA: the later write is still a later write
                if early and "PIPELINING" not in ehlo:
                    # the server ended the data at eod and does not offer PIPELINING: one command at
                    # a time, as a conforming client would (OpenSMTPD refuses a pipelined group)
                    for line in (f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{rcpt}>", "DATA"):
                        early.append(raw.cmd(line))
                    raw.send(smuggled_message)
                else:
                    raw.send(smuggled)
            else:
                raw.send(first + smuggled)
            raw.send(b"QUIT\r\n")
            replies = []
            try:
                while True:
                    replies.append(raw.reply(3.0))
            except (Closed, TimeoutError, OSError):
                pass
            replies = early + replies
            second_accepted = sum(r.startswith("250") for r in replies) >= 3
    except (Closed, OSError):
        pass
    finally:
        raw.close()
    hits = [m for m in inst.delivered() if _subject_in_header(m, marker)]
    evidence = (
        f"smuggled message in the mailbox ({len(hits)})" if hits else "no smuggled message in the mailbox"
    )
    return Truth(bool(hits), second_accepted, raw.log, evidence)
