"""One mail transaction, stage by stage, as `smtpprobe send` runs it (swaks' flow, our exit codes).

A refused stage raises StageFailure carrying that stage's exit code, after a polite QUIT.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

from smtpprobe.errors import SmtpProbeError, StageFailure, Timeout, TLSFailure, TransportError, UsageError
from smtpprobe.exitcodes import Exit
from smtpprobe.inputfile import FileMessage
from smtpprobe.protocol import commands
from smtpprobe.protocol.ehlo import auth_mechanisms
from smtpprobe.protocol.reply import Reply
from smtpprobe.session import Session
from smtpprobe.transcript import REDACTED

STAGES = ("connect", "banner", "ehlo", "tls", "auth", "mail", "rcpt", "data", "dot")
TlsMode = Literal["none", "starttls", "optional", "implicit"]


@dataclass
class Transaction:
    helo: str
    sender: str
    recipients: list[str]
    message: bytes | FileMessage | None = None  # a FileMessage is streamed from its file when DATA is reached
    tls: TlsMode = "none"
    force_helo: bool = False
    auth_mechanism: str | None = None
    auth_user: str = ""
    auth_password: str = ""
    allow_plaintext_auth: bool = False
    quit_after: str | None = None
    pipeline: bool = False
    accepted: list[str] = field(default_factory=list)  # recipients the server took

    def __post_init__(self) -> None:
        """Addresses and the HELO name go into command lines: refuse what would inject protocol syntax."""
        from smtpprobe import validate

        validate.helo_name(self.helo)
        if self.sender:
            validate.address(self.sender, "--from")
        for rcpt in self.recipients:
            validate.address(rcpt, "--to")


class _QuitAfter(Exception):
    pass


def run(session: Session, tx: Transaction) -> None:
    """Drive the session through the transaction. Returns normally when it went as asked."""
    try:
        _stages(session, tx)
    except _QuitAfter:
        pass
    except StageFailure as exc:
        session.transcript.error(str(exc))  # said before the QUIT, where it happened
        raise
    finally:  # after success, a --quit-after stop or a refused stage; not after a broken connection
        if sys.exc_info()[0] in (None, StageFailure):
            _quit(session)


def _hint(s: Session, hint: str | None) -> None:
    """What to try next, right under the error it explains."""
    if hint:
        s.transcript.info(f"hint: {hint}")


def _stages(s: Session, tx: Transaction) -> None:
    from smtpprobe import hints

    try:
        s.connect(implicit_tls=tx.tls == "implicit")
    except TLSFailure as exc:
        _hint(s, hints.tls_failure(str(exc), tx.tls))
        raise
    except TransportError as exc:
        _hint(s, hints.connect_failure(str(exc)))
        raise
    _stop(tx, "connect", close_only=True, session=s)
    early = hints.port_mode(s.port, tx.tls)
    _hint(s, early)  # said before the wait, not after it
    try:
        greeting = s.read_reply(s.greeting_timeout)
    except Timeout:
        _hint(s, None if early else hints.no_greeting(tx.tls))
        raise
    _expect(greeting, (2,), "banner", Exit.BANNER, "the server refused the connection")
    _stop(tx, "banner")
    _greet(s, tx)
    if tx.tls in ("starttls", "optional"):
        if _starttls(s, tx):
            _greet(s, tx, after_tls=True)
    _stop(tx, "tls")
    if tx.auth_mechanism:
        _authenticate(s, tx)
    _stop(tx, "auth")
    if tx.pipeline and "PIPELINING" in s.extensions and tx.quit_after not in ("mail", "rcpt"):
        _pipelined_envelope(s, tx)
    else:
        if tx.pipeline:
            s.transcript.info("server does not advertise PIPELINING; sending commands one at a time")
        _envelope(s, tx)
        _stop(tx, "rcpt")
        _expect(s.command("DATA"), (3,), "data", Exit.DATA, "DATA refused")
    _send_data(s, tx)


def _stop(tx: Transaction, stage: str, close_only: bool = False, session: Session | None = None) -> None:
    if tx.quit_after == stage:
        if close_only and session is not None:
            session.close()
        raise _QuitAfter


def _expect(reply: Reply, categories: tuple[int, ...], stage: str, code: int, what: str) -> Reply:
    if reply.category not in categories:
        raise StageFailure(stage, f"{what}: {reply}", code)
    return reply


def _greet(s: Session, tx: Transaction, after_tls: bool = False) -> None:
    if not tx.force_helo:
        reply = s.ehlo(tx.helo)
        if reply.category == 2:
            if not after_tls:
                _stop(tx, "ehlo")
            return
        if reply.code not in (500, 502):  # a refusal of us, not of EHLO: HELO would fare no better
            raise StageFailure("ehlo", f"EHLO refused: {reply}", Exit.HELO)
        s.transcript.info("EHLO not recognised, falling back to HELO (RFC 5321 §4.1.4)")
    _expect(s.command(f"HELO {tx.helo}"), (2,), "ehlo", Exit.HELO, "HELO refused")
    if not after_tls:
        _stop(tx, "ehlo")


def _starttls(s: Session, tx: Transaction) -> bool:
    if "STARTTLS" not in s.extensions:
        if tx.tls == "optional":
            s.transcript.info("STARTTLS not advertised; continuing without TLS (--tls-optional)")
            return False
        raise StageFailure("tls", "STARTTLS required (--tls) but the server does not advertise it", Exit.TLS)
    reply = s.command("STARTTLS")
    if reply.category != 2:
        if tx.tls == "optional":
            s.transcript.info("STARTTLS refused; continuing without TLS (--tls-optional)")
            return False
        raise StageFailure("tls", f"STARTTLS refused: {reply}", Exit.TLS)
    try:
        s.start_tls()
    except TLSFailure as exc:
        s.close()  # the connection is in an unknown state: no QUIT
        raise StageFailure("tls", str(exc), Exit.TLS) from None
    return True


def _authenticate(s: Session, tx: Transaction) -> None:
    mech = tx.auth_mechanism.upper()  # type: ignore[union-attr]
    if s.tls is None and not tx.allow_plaintext_auth:
        raise StageFailure(
            "auth", "refusing to send credentials over a plaintext connection (use --tls, or --allow-plaintext-auth)",
            Exit.AUTH,
        )
    offered = auth_mechanisms(s.extensions)
    if mech not in offered:
        raise StageFailure("auth", f"server does not offer AUTH {mech} (offers: {' '.join(offered) or 'none'})", Exit.AUTH)
    from smtpprobe.sasl import MAX_ROUNDS, MECHANISMS, endless

    steps = MECHANISMS[mech](tx.auth_user, tx.auth_password)
    initial = next(steps)
    line = f"AUTH {mech}" + (f" {initial}" if initial else "")
    reply = s.command(line, shown=f"AUTH {mech}" + (f" {REDACTED}" if initial else ""), secret=line)
    rounds = 0
    while reply.code == 334:
        if rounds == MAX_ROUNDS:
            raise StageFailure("auth", endless(rounds), Exit.AUTH)
        rounds += 1
        challenge = _decode_challenge(reply)
        try:
            response = steps.send(challenge)
        except StopIteration:
            response = "*"  # nothing more to say: cancel (RFC 4954 §4)
        s.send(f"{response}\r\n".encode(), shown=REDACTED, secret=response)
        reply = s.read_reply()
    _expect(reply, (2,), "auth", Exit.AUTH, "authentication failed")


def _decode_challenge(reply: Reply) -> bytes:
    import base64

    try:
        return base64.b64decode(reply.lines[0].strip(), validate=True)
    except ValueError:
        return b""


def _envelope(s: Session, tx: Transaction) -> None:
    _expect(s.command(f"MAIL FROM:<{tx.sender}>"), (2,), "mail", Exit.MAIL, "sender refused")
    _stop(tx, "mail")
    replies = []
    for rcpt in tx.recipients:
        replies.append(s.command(f"RCPT TO:<{rcpt}>"))
        if replies[-1].category == 2:
            tx.accepted.append(rcpt)
    if not tx.accepted:
        raise StageFailure("rcpt", f"no recipient was accepted: {replies[-1]}", Exit.RCPT)


def _pipelined_envelope(s: Session, tx: Transaction) -> None:
    """MAIL, every RCPT and DATA in one write (RFC 2920), then the replies in order."""
    batch = commands.mail_from(tx.sender) + b"".join(commands.rcpt_to(r) for r in tx.recipients) + b"DATA\r\n"
    s.send(batch)
    mail = s.read_reply()
    rcpts = [s.read_reply() for _ in tx.recipients]
    data = s.read_reply()
    _expect(mail, (2,), "mail", Exit.MAIL, "sender refused")
    tx.accepted += [r for r, reply in zip(tx.recipients, rcpts) if reply.category == 2]
    if not tx.accepted:
        if data.code == 354:  # the server is waiting for a message we must not send: end it empty
            s.send(b".\r\n")
            s.read_reply()
        raise StageFailure("rcpt", f"no recipient was accepted: {rcpts[-1]}", Exit.RCPT)
    _expect(data, (3,), "data", Exit.DATA, "DATA refused")


def _send_data(s: Session, tx: Transaction) -> None:
    if tx.quit_after == "data":  # the server now waits for a message: a QUIT would become its text
        s.close()
        raise _QuitAfter
    if tx.message is None:
        raise UsageError("no message to send")
    if isinstance(tx.message, bytes):
        s.send_message([commands.data_payload(tx.message)])
    else:
        s.send_message(commands.data_payload_stream(tx.message.chunks()))
    _expect(s.read_reply(), (2,), "dot", Exit.DATA, "message refused after end of data")


def _quit(s: Session) -> None:
    """QUIT and read the goodbye, if the connection still stands; failures here change nothing."""
    if s.sock is None:
        return
    try:
        s.command("QUIT")
    except SmtpProbeError:
        pass
    finally:
        s.close()
