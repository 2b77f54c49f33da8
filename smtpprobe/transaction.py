"""One mail transaction, stage by stage, as `smtpprobe send` runs it (swaks' flow, our exit codes).

A refused stage raises StageFailure carrying that stage's exit code, after a polite QUIT.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from smtpprobe.errors import SmtpProbeError, StageFailure, Timeout, TLSFailure, TransportError, UsageError
from smtpprobe.exitcodes import Exit
from smtpprobe.inputfile import FileMessage
from smtpprobe.protocol import commands, esmtp
from smtpprobe.protocol.ehlo import auth_mechanisms
from smtpprobe.protocol.reply import Reply
from smtpprobe.send.options import STAGES
from smtpprobe.send.stops import QuitAfter, after_sending, hook, stop
from smtpprobe.send.verdicts import final_replies
from smtpprobe.session import Session
from smtpprobe.transcript import REDACTED

TlsMode = str  # "none", "starttls", "optional" or "implicit"
__all__ = ["STAGES", "Transaction", "run"]


class Transaction:
    """What to do on the connection. A plain class (keyword arguments as below), not a dataclass: `dataclasses`
    imports `inspect`, ~6 ms of a whole `send`."""

    message: bytes | FileMessage | None = None  # a FileMessage is streamed from its file when DATA is reached
    tls: TlsMode = "none"
    force_helo: bool = False
    auth_mechanism: str | None = None
    auth_user: str = ""
    auth_password: str = ""
    allow_plaintext_auth: bool = False
    quit_after: str | None = None
    drop_after: str | None = None  # hang up after this stage, without QUIT
    drop_after_send: str | None = None  # hang up right after sending this stage's command, its reply unread
    pipeline: bool = False
    lmtp: bool = False  # LHLO, and one reply per accepted recipient after the message (RFC 2033)
    chunking: bool = False  # BDAT instead of DATA when the server offers CHUNKING
    chain_file: str | None = None  # save the server's certificate chain here (PEM)

    def __init__(self, helo: str, sender: str, recipients: list[str], **options: object):
        self.helo, self.sender, self.recipients = helo, sender, recipients
        self.xclient: dict[str, str] = {}  # Postfix XCLIENT attributes, e.g. {"ADDR": "192.0.2.1"}
        self.esmtp = esmtp.Wanted()
        self.accepted: list[str] = []  # recipients the server took
        self.delivered: list[str] = []  # LMTP, PRDR: recipients whose reply after the message was 2xx
        self.verdicts: list[tuple[str, Reply]] = []  # LMTP, PRDR: each accepted recipient's reply after the data
        self.prdr_sent = False  # MAIL carried PRDR: a 353 after the data opens one reply per recipient
        for name, value in options.items():
            if name not in Transaction.__annotations__ and name not in ("xclient", "esmtp"):
                raise TypeError(f"Transaction has no option {name!r}")
            setattr(self, name, value)
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:  # a dataclass-style validation hook keeps working on this plain class
            post_init()

    def __post_init__(self) -> None:
        """Addresses and the HELO name go into command lines: refuse what would inject protocol syntax."""
        from smtpprobe import validate

        validate.helo_name(self.helo)
        if self.sender:
            validate.address(self.sender, "--from")
        for rcpt in self.recipients:
            validate.address(rcpt, "--to")


def run(session: Session, tx: Transaction) -> None:
    """Drive the session through the transaction. Returns normally when it went as asked."""
    try:
        _stages(session, tx)
    except QuitAfter:
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
        s.connect(implicit_tls=tx.tls == "implicit")  # with the session's PROXY header first, if it has one
    except TLSFailure as exc:
        _hint(s, hints.tls_failure(str(exc), tx.tls))
        raise
    except TransportError as exc:
        _hint(s, hints.connect_failure(str(exc)))
        raise
    if s.tls is not None:
        _save_chain(s, tx)
    stop(s, tx, "connect")
    stop(s, tx, "proxy")
    early = hints.port_mode(s.port, tx.tls)
    _hint(s, early)  # said before the wait, not after it
    try:
        greeting = s.read_reply(s.greeting_timeout)
    except Timeout:
        _hint(s, None if early else hints.no_greeting(tx.tls))
        raise
    _expect(greeting, (2,), "banner", Exit.BANNER, "the server refused the connection")
    stop(s, tx, "banner")
    _greet(s, tx, stage="ehlo")
    stop(s, tx, "ehlo")
    if tx.tls in ("starttls", "optional") and _starttls(s, tx):
        _save_chain(s, tx)
        _greet(s, tx)
    stop(s, tx, "tls")
    if tx.xclient:
        _xclient(s, tx)
    stop(s, tx, "xclient")
    if tx.auth_mechanism:
        _authenticate(s, tx)
    stop(s, tx, "auth")
    mail_params = _mail_parameters(s, tx)
    bdat = _use_bdat(s, tx)
    stops_in_envelope = {"mail", "rcpt"} & {tx.quit_after, tx.drop_after, tx.drop_after_send}
    if tx.pipeline and "PIPELINING" in s.extensions and not stops_in_envelope:
        _pipelined_envelope(s, tx, mail_params, bdat)
    else:
        if tx.pipeline and "PIPELINING" not in s.extensions:
            s.transcript.info("server does not advertise PIPELINING; sending commands one at a time")
        _envelope(s, tx, mail_params)
        stop(s, tx, "rcpt")
        if not bdat:
            reply = s.command("DATA", sent=hook(s, tx, "data", "DATA"))
            _expect(reply, (3,), "data", Exit.DATA, "DATA refused")
    if bdat:
        stop(s, tx, "data")
        _send_bdat(s, tx)
    else:
        _send_data(s, tx)
    stop(s, tx, "dot")


def _save_chain(s: Session, tx: Transaction) -> None:
    if not tx.chain_file:
        return
    from smtpprobe.tls import peer_chain_pem

    pem = peer_chain_pem(s.sock)  # type: ignore[arg-type]
    try:
        with open(tx.chain_file, "w", encoding="ascii") as f:
            f.write(pem)
    except OSError as exc:
        raise UsageError(f"--tls-get-peer-chain {tx.chain_file}: {exc.strerror}") from None
    s.transcript.info(f"TLS peer chain ({pem.count('BEGIN CERTIFICATE')} certificates) saved to {tx.chain_file}")


def _xclient(s: Session, tx: Transaction) -> None:
    from smtpprobe.protocol import xclient

    if "XCLIENT" not in s.extensions:
        raise StageFailure("xclient", "the server does not offer XCLIENT (Postfix: smtpd_authorized_xclient_hosts)",
                           Exit.XCLIENT)
    try:
        line = xclient.command(tx.xclient, s.extensions["XCLIENT"])
    except UsageError as exc:
        raise StageFailure("xclient", str(exc), Exit.XCLIENT) from None
    reply = s.command(line, sent=hook(s, tx, "xclient", "XCLIENT"))
    _expect(reply, (2,), "xclient", Exit.XCLIENT, "XCLIENT refused")
    # The 220 is a new greeting: the session starts over with EHLO (XCLIENT_README). With an XCLIENT HELO, that
    # EHLO says the same name, or it would replace the one XCLIENT just set.
    _greet(s, tx, tx.xclient.get("HELO"))


def _mail_parameters(s: Session, tx: Transaction) -> list[str]:
    message, size, eight_bit = tx.message, None, None
    if isinstance(message, FileMessage):
        if tx.esmtp.auto:  # SIZE=, BODY= and SMTPUTF8 depend on the whole file: one streamed pass over it
            size, eight_bit, message = _file_facts(message)
        else:
            message = None
    elif message is not None:
        size = len(commands.data_payload(message)) - 3
    try:
        params, notes = esmtp.mail_parameters(tx.esmtp, s.extensions, tx.sender, tx.recipients, message,
                                              tls=s.tls is not None, size=size, eight_bit=eight_bit)
    except esmtp.Refusal as exc:
        raise StageFailure("mail", str(exc), Exit.MAIL) from None
    for note in notes + esmtp.rcpt_notes(tx.esmtp, s.extensions):
        s.transcript.info(note)
    tx.prdr_sent = "PRDR" in (p.upper() for p in params)
    return params


def _file_facts(message: FileMessage) -> tuple[int, bool, bytes]:
    """(size as sent after DATA without the end-of-data line, 8-bit or not, the first MiB for the header
    check) of a message file, read chunk by chunk as it will be sent."""
    size, eight_bit, head = 0, False, bytearray()
    for piece in commands.data_payload_stream(message.chunks()):
        size += len(piece)
        eight_bit = eight_bit or not piece.isascii()
        if len(head) < 1 << 20:
            head += piece[: (1 << 20) - len(head)]
    return size - 3, eight_bit, bytes(head)


def _use_bdat(s: Session, tx: Transaction) -> bool:
    if tx.chunking and "CHUNKING" not in s.extensions:
        s.transcript.info("server does not advertise CHUNKING; sending the message with DATA")
    return tx.chunking and "CHUNKING" in s.extensions


def _expect(reply: Reply, categories: tuple[int, ...], stage: str, code: int, what: str) -> Reply:
    if reply.category not in categories:
        raise StageFailure(stage, f"{what}: {reply}", code)
    return reply


def _greet(s: Session, tx: Transaction, name: str | None = None, stage: str | None = None) -> None:
    """EHLO (LHLO, HELO). STAGE: "ehlo" for the first greeting (--drop-after-send ehlo), None after that."""
    name = name or tx.helo
    if tx.lmtp:  # LMTP has no HELO to fall back to (RFC 2033 §4.1)
        reply = s.ehlo(name, "LHLO", sent=hook(s, tx, stage, "LHLO"))
        _expect(reply, (2,), "ehlo", Exit.HELO, "LHLO refused")
        return
    if not tx.force_helo:
        reply = s.ehlo(name, sent=hook(s, tx, stage, "EHLO"))
        if reply.category == 2:
            return
        if reply.code not in (500, 502):  # a refusal of us, not of EHLO: HELO would fare no better
            raise StageFailure("ehlo", f"EHLO refused: {reply}", Exit.HELO)
        s.transcript.info("EHLO not recognised, falling back to HELO (RFC 5321 §4.1.4)")
    reply = s.command(f"HELO {name}", sent=hook(s, tx, stage, "HELO"))
    _expect(reply, (2,), "ehlo", Exit.HELO, "HELO refused")


def _starttls(s: Session, tx: Transaction) -> bool:
    if "STARTTLS" not in s.extensions:
        if tx.tls == "optional":
            s.transcript.info("STARTTLS not advertised; continuing without TLS (--tls-optional)")
            return False
        raise StageFailure("tls", "STARTTLS required (--tls) but the server does not advertise it", Exit.TLS)
    reply = s.command("STARTTLS", sent=hook(s, tx, "tls", "STARTTLS"))
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
    from smtpprobe.sasl import MAX_ROUNDS, MECHANISMS, ServerProofError, endless

    steps = MECHANISMS[mech](tx.auth_user, tx.auth_password)
    initial = next(steps)
    line = f"AUTH {mech}" + (f" {initial}" if initial else "")
    reply = s.command(line, shown=f"AUTH {mech}" + (f" {REDACTED}" if initial else ""), secret=line,
                      sent=hook(s, tx, "auth", "AUTH"))
    rounds = 0
    while reply.code == 334:
        if rounds == MAX_ROUNDS:  # a server that challenges forever
            s.close()  # a QUIT now would be read as one more SASL response
            raise StageFailure("auth", endless(rounds), Exit.AUTH)
        rounds += 1
        challenge = _decode_challenge(reply)
        try:
            response = steps.send(challenge)
        except StopIteration:
            response = "*"  # nothing more to say: cancel (RFC 4954 §4)
        except ServerProofError as exc:
            s.send(b"*\r\n")
            s.read_reply()
            raise StageFailure("auth", f"the server's proof does not verify: {exc}", Exit.AUTH) from None
        s.send(f"{response}\r\n".encode(), shown=REDACTED if response else "", secret=response)
        reply = s.read_reply()
    _expect(reply, (2,), "auth", Exit.AUTH, "authentication failed")


def _decode_challenge(reply: Reply) -> bytes:
    import base64

    try:
        return base64.b64decode(reply.lines[0].strip(), validate=True)
    except ValueError:
        return b""


def _rcpt_line(s: Session, tx: Transaction, rcpt: str) -> bytes:
    return commands.rcpt_to(rcpt, " ".join(esmtp.rcpt_parameters(tx.esmtp, s.extensions, rcpt)))


def _envelope(s: Session, tx: Transaction, mail_params: list[str]) -> None:
    s.send(commands.mail_from(tx.sender, " ".join(mail_params)))
    after_sending(s, tx, "mail", "MAIL")
    _expect(s.read_reply(), (2,), "mail", Exit.MAIL, "sender refused")
    stop(s, tx, "mail")
    replies = []
    for rcpt in tx.recipients:
        s.send(_rcpt_line(s, tx, rcpt))
        if rcpt is tx.recipients[-1]:  # --drop-after-send rcpt: every recipient named, the last unanswered
            after_sending(s, tx, "rcpt", "RCPT")
        replies.append(s.read_reply())
        if replies[-1].category == 2:
            tx.accepted.append(rcpt)
    if not tx.accepted:
        raise StageFailure("rcpt", f"no recipient was accepted: {replies[-1]}", Exit.RCPT)


def _pipelined_envelope(s: Session, tx: Transaction, mail_params: list[str], bdat: bool) -> None:
    """MAIL, every RCPT and DATA in one write (RFC 2920), then the replies in order. With BDAT the chunks
    follow the replies (a pipelined BDAT would be refused with the message already on the wire)."""
    batch = commands.mail_from(tx.sender, " ".join(mail_params)) + b"".join(_rcpt_line(s, tx, r) for r in tx.recipients)
    s.send(batch + (b"" if bdat else b"DATA\r\n"))
    if not bdat:
        after_sending(s, tx, "data", "MAIL, RCPT and DATA in one batch")
    mail = s.read_reply()
    rcpts = [s.read_reply() for _ in tx.recipients]
    data = None if bdat else s.read_reply()
    _expect(mail, (2,), "mail", Exit.MAIL, "sender refused")
    tx.accepted += [r for r, reply in zip(tx.recipients, rcpts) if reply.category == 2]
    if not tx.accepted:
        if data is not None and data.code == 354:  # the server waits for a message we must not send: end it empty
            s.send(b".\r\n")
            s.read_reply()
        raise StageFailure("rcpt", f"no recipient was accepted: {rcpts[-1]}", Exit.RCPT)
    if data is not None:
        _expect(data, (3,), "data", Exit.DATA, "DATA refused")


def _send_data(s: Session, tx: Transaction) -> None:
    stop(s, tx, "data")  # the server now waits for a message: a QUIT would become its text
    if tx.message is None:
        raise UsageError("no message to send")
    if isinstance(tx.message, bytes):
        s.send_message([commands.data_payload(tx.message)])
    else:
        s.send_message(commands.data_payload_stream(tx.message.chunks()))
    after_sending(s, tx, "dot", "the end of data (.)")
    final_replies(s, tx)


def _pieces(message: bytes | FileMessage) -> Iterable[bytes]:
    """The message in pieces: a FileMessage is read from its file chunk by chunk, never whole in memory."""
    return [message] if isinstance(message, bytes) else message.chunks()


def _send_bdat(s: Session, tx: Transaction) -> None:
    from smtpprobe.protocol import bdat
    from smtpprobe.session import SHOWN_MESSAGE_BYTES

    if tx.message is None:
        raise UsageError("no message to send")
    shown = total = 0  # the transcript keeps the first SHOWN_MESSAGE_BYTES of the data, as with DATA
    for n, chunk in enumerate(bdat.stream(_pieces(tx.message))):
        line, _, data = chunk.partition(b"\r\n")
        s.send(line + b"\r\n")
        shown += s.send_message([data], SHOWN_MESSAGE_BYTES - shown, summary=False)
        if n == 0:  # BDAT has no DATA command: for --drop-after-send, its first chunk opens the data
            after_sending(s, tx, "data", line.decode())
        total += len(data)
        if not line.endswith(b" LAST"):
            _expect(s.read_reply(), (2,), "data", Exit.DATA, "BDAT chunk refused")
    after_sending(s, tx, "dot", line.decode())
    if total > shown:
        s.transcript.info(f"message data: {total} bytes sent, the first {shown} shown above")
    final_replies(s, tx)


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
