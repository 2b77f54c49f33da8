"""What each step kind does on a Session, turned into an Outcome. The only I/O in the engine.

No exception escapes an action: a close, a timeout or a TLS failure becomes part of the Outcome,
which the runner judges (a refusal may be exactly what the scenario expects).
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from smtpprobe.errors import (
    ConnectionClosed,
    ProtocolError,
    SmtpProbeError,
    Timeout,
    TLSFailure,
    TransportError,
)
from smtpprobe.protocol import commands
from smtpprobe.protocol import ehlo as ehlo_ext
from smtpprobe.protocol.reply import Reply
from smtpprobe.sasl import MAX_ROUNDS, MECHANISMS
from smtpprobe.scenario.expect import Outcome
from smtpprobe.scenario.model import Step
from smtpprobe.scenario.variables import Environment
from smtpprobe.session import Session
from smtpprobe.transcript import REDACTED

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
AUTO_MODE = {"mx": "plain", "submission": "starttls", "smtps": "tls", "lmtp": "plain"}


@dataclass
class Context:
    session: Session
    env: Environment
    role: str
    timeout: float  # per reply, unless the step says otherwise
    unreachable: bool = False  # the TCP connection itself failed
    prelude: tuple[str, ...] = ()  # gates satisfied before the scenario's steps: "starttls", "auth"
    strict_pipelining: bool = True  # pipeline only where PIPELINING is offered (off when it is the subject)
    named: dict[str, Reply | None] = field(default_factory=dict)  # the reply of each named step
    quit_sent: bool = False  # a step ended the session with QUIT as its sentinel

    def step_timeout(self, step: Step) -> float:
        return step.timeout if step.timeout is not None else self.timeout


def _read(ctx: Context, outcome: Outcome, timeout: float) -> Reply | None:
    try:
        reply = ctx.session.read_reply(timeout=timeout)
    except Timeout:
        outcome.timed_out, outcome.waited = True, timeout
        return None
    except TransportError as exc:
        _closed(ctx, outcome, exc)
        return None
    except ProtocolError as exc:
        outcome.failure = str(exc)
        return None
    outcome.replies.append(reply)
    return reply


def _listen(ctx: Context, outcome: Outcome, wait: float) -> Reply | None:
    """A reply the server sends unasked within `wait` seconds, or None. Silence is often the answer a probe
    hopes for, so it goes into the transcript as information, not as an error; a close or a malformed reply
    is set on the outcome as usual."""
    try:
        reply = ctx.session.poll_reply(wait)
    except ConnectionClosed as exc:
        ctx.session.transcript.error(str(exc))  # poll_reply leaves recording to its caller
        _closed(ctx, outcome, exc)
        return None
    except TransportError as exc:
        _closed(ctx, outcome, exc)
        return None
    except ProtocolError as exc:
        outcome.failure = str(exc)
        return None
    if reply is None:
        ctx.session.transcript.info(f"no reply within {wait:g}s")
        return None
    outcome.replies.append(reply)
    return reply


def _closed(ctx: Context, outcome: Outcome, exc: Exception) -> None:
    outcome.closed = True
    if str(exc) != "server closed the connection":
        outcome.failure = str(exc)  # a reset, a broken pipe, a close in the middle of a reply: say which
    ctx.session.close()


def _send(
    ctx: Context, outcome: Outcome, data: bytes, shown: str | None = None, secret: str | None = None
) -> bool:
    try:
        ctx.session.send(data, shown=shown, secret=secret)
        return True
    except Timeout as exc:
        outcome.timed_out, outcome.failure = True, str(exc)
    except TransportError as exc:
        _closed(ctx, outcome, exc)
    return False


def _command(ctx: Context, outcome: Outcome, line: str, timeout: float) -> Reply | None:
    verb, _, arg = line.partition(" ")
    if not _send(ctx, outcome, commands.command(verb, arg)):
        return None
    reply = _read(ctx, outcome, timeout)
    if reply is not None and verb.upper() in ("EHLO", "LHLO") and reply.category == 2:
        ctx.session.extensions = ehlo_ext.extensions(reply)
        outcome.extensions = dict(ctx.session.extensions)
    return reply


def open_connection(ctx: Context, outcome: Outcome) -> bool:
    """TCP connect and learn {server_ip} / {client_ip}; False (and the outcome says why) when unreachable."""
    session = ctx.session
    try:
        session.connect()
    except TransportError as exc:
        ctx.unreachable = True
        outcome.failure = str(exc)
        return False
    ctx.env.learn(
        server_ip=session.peer[0] if session.peer else "", client_ip=session.local[0] if session.local else ""
    )
    return True


def connect(ctx: Context, step: Step) -> Outcome:
    outcome = Outcome()
    mode = AUTO_MODE[ctx.role] if step.arg == "auto" else str(step.arg)
    if not open_connection(ctx, outcome):
        return outcome
    if mode == "tls" and not _tls(ctx, outcome):
        return outcome
    greeting = _read(ctx, outcome, ctx.step_timeout(step))
    if greeting is None:
        return outcome
    learn_greeting(ctx, greeting)
    if greeting.category != 2:
        return outcome
    if mode == "starttls" or ctx.prelude:
        _prelude(ctx, outcome, step, mode, lenient=step.arg == "auto")
    return outcome


def _prelude(ctx: Context, outcome: Outcome, step: Step, mode: str, lenient: bool) -> None:
    """EHLO and STARTTLS (for the starttls mode, or a gate the runner satisfies), then AUTH when a gate
    asked for it. A port role that would use STARTTLS but is not offered it goes on in plaintext (`auto`
    mode: the scenario is still tested); an explicit `connect = "starttls"` reports it missing."""
    helo = ctx.env.fill("{helo}")
    timeout = ctx.step_timeout(step)
    reply = _command(ctx, outcome, f"EHLO {helo}", timeout)
    if reply is None or reply.category != 2:
        return
    # credentials go only inside TLS where the server offers it (RFC 4954 §4; nodemailer insists: 538)
    auth_tls = "auth" in ctx.prelude and "STARTTLS" in ctx.session.extensions
    wants_tls = (mode == "starttls" or "starttls" in ctx.prelude or auth_tls) and mode != "tls"
    if wants_tls:
        if "STARTTLS" not in ctx.session.extensions and lenient and "starttls" not in ctx.prelude:
            ctx.session.transcript.info("STARTTLS not offered: this port is tested in plaintext")
        else:
            _starttls(ctx, outcome, step)
            if outcome.terminal:
                return
            if mode == "starttls" or "auth" in ctx.prelude:
                _command(ctx, outcome, f"EHLO {helo}", timeout)
    if "auth" in ctx.prelude and not outcome.terminal and ctx.session.tls is None:
        outcome.failure = "not sending the credentials in clear text (no TLS)"
        return
    if "auth" in ctx.prelude and not outcome.terminal:
        spec = {"mechanism": "PLAIN", "user": "{auth_user}", "password": "{auth_password}"}
        login = auth(ctx, Step("auth", spec, step.number, if_missing="try", timeout=step.timeout))
        outcome.replies.extend(login.replies)
        outcome.closed, outcome.timed_out = login.closed, login.timed_out
        outcome.failure = outcome.failure or login.failure
        if login.reply is not None and login.reply.code != 235:
            outcome.failure = f"AUTH with the given credentials refused: {login.reply.wire_lines()[0]}"


def learn_greeting(ctx: Context, greeting: Reply) -> None:
    """{server_name}: the first word of the greeting, when it is a domain name."""
    words = greeting.lines[0].split() if greeting.lines else []
    if words and _NAME.fullmatch(words[0]) and "." in words[0]:
        ctx.env.learn(server_name=words[0])


def _tls(ctx: Context, outcome: Outcome) -> bool:
    try:
        ctx.session.start_tls()
        return True
    except (TLSFailure, TransportError) as exc:
        outcome.failure = str(exc)
        ctx.session.close()
        outcome.closed = True
        return False


def _starttls(ctx: Context, outcome: Outcome, step: Step) -> None:
    if "STARTTLS" not in ctx.session.extensions:
        outcome.missing = "STARTTLS not offered in the EHLO reply"
        return
    reply = _command(ctx, outcome, "STARTTLS", ctx.step_timeout(step))
    if reply is not None and reply.code == 220:
        _tls(ctx, outcome)


def send(ctx: Context, step: Step) -> Outcome:
    if step.repeat > 1:
        return _repeated(ctx, step, [ctx.env.fill(str(step.arg))])
    outcome = Outcome()
    _command(ctx, outcome, ctx.env.fill(str(step.arg)), ctx.step_timeout(step))
    return outcome


def raw(ctx: Context, step: Step) -> Outcome:
    outcome = Outcome()
    if _send(ctx, outcome, commands.unescape(ctx.env.fill(str(step.arg)))):
        _read(ctx, outcome, ctx.step_timeout(step))
    return outcome


def pipeline(ctx: Context, step: Step) -> Outcome:
    """The lines in one write, one reply read per line. Where the server does not offer PIPELINING
    (RFC 2920 §3.1: a client MUST NOT pipeline then) they go one at a time, unless improper pipelining is
    the scenario's subject."""
    outcome = Outcome()
    lines = [ctx.env.fill(line) for line in step.arg]  # type: ignore[attr-defined]
    _batch(ctx, outcome, lines, ctx.step_timeout(step))
    return outcome


def _batch(ctx: Context, outcome: Outcome, lines: list[str], timeout: float) -> None:
    if ctx.strict_pipelining and "PIPELINING" not in ctx.session.extensions:
        for line in lines:
            if _command(ctx, outcome, line, timeout) is None:
                return
        return
    batch = b"".join(commands.command(*(line.partition(" ")[::2])) for line in lines)
    if _send(ctx, outcome, batch):
        for _ in lines:
            if _read(ctx, outcome, timeout) is None:
                break


PIPELINE_GROUP = 50  # commands per write when a repeated command is pipelined


def _repeated(ctx: Context, step: Step, lines: list[str]) -> Outcome:
    """`repeat = N`: the lines N times, pipelined in groups where PIPELINING is offered. The first refusal
    (or close) decides and ends the step; every reply up to it is kept, the later ones of its group are
    read and noted."""
    outcome = Outcome()
    todo = lines * step.repeat
    group = PIPELINE_GROUP if "PIPELINING" in ctx.session.extensions else 1
    sent = 0
    while sent < len(todo):
        chunk = todo[sent : sent + group]
        part = Outcome()
        _batch(ctx, part, chunk, ctx.step_timeout(step))
        sent += len(chunk)
        refusal = next((i for i, r in enumerate(part.replies) if r.category in (4, 5)), None)
        keep = part.replies if refusal is None else part.replies[: refusal + 1]
        outcome.replies.extend(keep)
        outcome.closed, outcome.timed_out, outcome.failure = part.closed, part.timed_out, part.failure
        outcome.waited = part.waited
        if refusal is not None or part.terminal:
            done = sent - len(chunk) + len(keep)
            outcome.note = f"at reply {done} of {len(todo)}"
            return outcome
    outcome.note = f"all {len(todo)} accepted"
    return outcome


def starttls(ctx: Context, step: Step) -> Outcome:
    outcome = Outcome()
    _starttls(ctx, outcome, step)
    return outcome


def auth(ctx: Context, step: Step) -> Outcome:
    outcome = Outcome()
    spec: dict[str, str] = step.arg  # type: ignore[assignment]
    mech = spec["mechanism"]
    offered = ehlo_ext.auth_mechanisms(ctx.session.extensions)
    if mech not in offered and step.if_missing != "try":
        outcome.missing = f"AUTH {mech} not offered (offered: {' '.join(offered) or 'none'})"
        return outcome
    responses = MECHANISMS[mech](ctx.env.fill(spec["user"]), ctx.env.fill(spec["password"]))
    initial = next(responses)
    line = f"AUTH {mech}" + (f" {initial}" if initial else "")
    shown = f"AUTH {mech}" + (f" {REDACTED}" if initial else "")
    if not _send(ctx, outcome, commands.command(*line.partition(" ")[::2]), shown=shown, secret=line):
        return outcome
    reply = _read(ctx, outcome, ctx.step_timeout(step))
    for _ in range(MAX_ROUNDS):  # bounded against a server looping on 334
        if reply is None or reply.code != 334:
            break
        try:
            challenge = base64.b64decode(reply.lines[0].strip(), validate=True)
        except ValueError:
            challenge = b""
        try:
            response = responses.send(challenge)
        except StopIteration:
            response = "*"  # nothing more to say: cancel (RFC 4954 §4)
        if not _send(ctx, outcome, f"{response}\r\n".encode(), shown=REDACTED, secret=response):
            break
        reply = _read(ctx, outcome, ctx.step_timeout(step))
    return outcome


def _data(ctx: Context, step: Step, payload: Callable[[str], bytes]) -> Outcome:
    outcome = Outcome()
    reply = _command(ctx, outcome, "DATA", ctx.step_timeout(step))
    if reply is not None and reply.code == 354 and _send(ctx, outcome, payload(ctx.env.fill(str(step.arg)))):
        _read(ctx, outcome, ctx.step_timeout(step))
    return outcome


def data(ctx: Context, step: Step) -> Outcome:
    return _data(ctx, step, lambda text: commands.data_payload(text.encode("utf-8")))


def data_raw(ctx: Context, step: Step) -> Outcome:
    return _data(ctx, step, commands.unescape)


def wait_closed(ctx: Context, step: Step) -> Outcome:
    outcome = Outcome()
    outcome.closed = ctx.session.wait_closed(float(step.arg))  # type: ignore[arg-type]
    if outcome.closed:
        ctx.session.close()
    return outcome


def pause(ctx: Context, step: Step) -> Outcome:
    time.sleep(float(step.arg))  # type: ignore[arg-type]
    return Outcome()


def read(ctx: Context, step: Step) -> Outcome:
    outcome = Outcome()
    wait = float(step.arg)  # type: ignore[arg-type]
    if _listen(ctx, outcome, wait) is None and not outcome.closed and outcome.failure is None:
        outcome.timed_out, outcome.waited = True, wait
    return outcome


ACTIONS: dict[str, Callable[[Context, Step], Outcome]] = {
    "connect": connect,
    "send": send,
    "raw": raw,
    "pipeline": pipeline,
    "starttls": starttls,
    "auth": auth,
    "data": data,
    "data_raw": data_raw,
    "wait_closed": wait_closed,
    "pause": pause,
    "read": read,
}


def _register_probe_actions() -> None:
    # Imported late: probe_actions builds on the helpers above.
    from smtpprobe.scenario import probe_actions

    ACTIONS.update(
        pre_greeting=probe_actions.pre_greeting,
        starttls_inject=probe_actions.starttls_inject,
        burst=probe_actions.burst,
        proxy=probe_actions.proxy,
        smuggle=probe_actions.smuggle,
    )


_register_probe_actions()


def _register_tls_actions() -> None:
    from smtpprobe.scenario import tls_actions  # imported late: it builds on Context and AUTO_MODE above

    ACTIONS["tls_posture"] = tls_actions.tls_posture


_register_tls_actions()


def check_closed(ctx: Context, outcome: Outcome, timeout: float) -> None:
    """For expectations about closing: does the server hang up after its reply?"""
    if not outcome.closed and ctx.session.sock is not None:
        outcome.closed = ctx.session.wait_closed(timeout)
        if outcome.closed:
            ctx.session.close()


def quit_politely(session: Session, already: bool = False) -> None:
    if session.sock is None:
        return
    if already:
        session.close()
        return
    try:
        if not _said_goodbye(session):  # after the scenario's own QUIT and its 221, a second one meets a close
            session.send(b"QUIT\r\n")
            session.poll_reply(2.0)  # the goodbye; a server that says nothing does not hold us up
    except SmtpProbeError:
        pass  # a close here is what QUIT asks for, not an error of the result
    finally:
        session.close()


def _said_goodbye(session: Session) -> bool:
    last = next((e for e in reversed(session.transcript.events) if e.kind == "received"), None)
    return last is not None and last.text.startswith("221")
