"""Actions of the security-probe step kinds: talking before the greeting, STARTTLS with a command
injected in the same segment, and a burst of connections. Registered in actions.ACTIONS.

Like every action, none of them raises: what happened goes into the Outcome.
"""

from __future__ import annotations

import time

from smtpprobe.errors import SmtpProbeError, UsageError
from smtpprobe.protocol import commands
from smtpprobe.protocol.reply import Reply
from smtpprobe.scenario.actions import (
    AUTO_MODE,
    Context,
    _closed,
    _command,
    _listen,
    _read,
    _send,
    _tls,
    learn_greeting,
    open_connection,
)
from smtpprobe.scenario.expect import Outcome
from smtpprobe.scenario.model import Step

MAX_EXTRA = 10  # replies read before the sentinel's; a server that floods is injectable enough
# After the first write of a split smuggling probe, room for the server to read it alone: ten times the
# server's own pace (its answer to DATA), at least 0.1 s, at most 1 s: a busy server reads later.
SPLIT_WAIT, SPLIT_PACE, SPLIT_MAX = 0.1, 10.0, 1.0


def pre_greeting(ctx: Context, step: Step) -> Outcome:
    """Connect and send the bytes at once, before the greeting (RFC 5321 §3.1: the server speaks first).
    The outcome holds the greeting when it is a refusal (Exim's `554 SMTP synchronization error`),
    otherwise the reply to what was sent early; a hang-up without one is a close."""
    outcome = Outcome()
    if not open_connection(ctx, outcome):
        return outcome
    if AUTO_MODE[ctx.role] == "tls" and not _tls(ctx, outcome):
        return outcome  # on implicit TLS the greeting comes inside TLS: talk first there
    if not _send(ctx, outcome, commands.unescape(ctx.env.fill(str(step.arg)))):
        return outcome
    greeting = _read(ctx, outcome, ctx.step_timeout(step))
    if greeting is None or greeting.category != 2:
        return outcome
    learn_greeting(ctx, greeting)
    outcome.replies.clear()  # the 220 is in the transcript; what counts is the answer to the early talk
    _read(ctx, outcome, ctx.step_timeout(step))
    return outcome


def proxy(ctx: Context, step: Step) -> Outcome:
    """Connect and announce another client with a PROXY protocol header (HAProxy v1 or v2), then read the
    greeting: how a server behind a proxy sees its clients (Postfix smtpd_upstream_proxy_protocol)."""
    outcome = Outcome()
    if not open_connection(ctx, outcome):
        return outcome
    arg: dict = {k: ctx.env.fill(v) if isinstance(v, str) else v for k, v in step.arg.items()}  # type: ignore[union-attr]
    try:
        ctx.session.send_proxy_header(**arg)
    except UsageError as exc:
        outcome.failure = str(exc)
        return outcome
    except SmtpProbeError as exc:
        _closed(ctx, outcome, exc)
        return outcome
    if AUTO_MODE[ctx.role] == "tls" and not _tls(ctx, outcome):
        return outcome
    greeting = _read(ctx, outcome, ctx.step_timeout(step))
    if greeting is not None:
        learn_greeting(ctx, greeting)
    return outcome


def starttls_inject(ctx: Context, step: Step) -> Outcome:
    """`STARTTLS\\r\\n<command>\\r\\n` in one write; on 220 the handshake; then QUIT inside TLS as a
    sentinel, and every reply up to its 221 (or the close). A server that discards the plaintext it
    buffered before TLS (RFC 3207 §4.2) sends exactly one reply, the 221; one that runs the injected
    command answers it first (CVE-2011-0411). No fixed wait: the server answers in order, so the 221
    comes after any reply to the injected command. A refusal of STARTTLS is the outcome as is."""
    outcome = Outcome()
    if "STARTTLS" not in ctx.session.extensions:
        outcome.missing = "STARTTLS not offered in the EHLO reply"
        return outcome
    injected = ctx.env.fill(str(step.arg))
    payload = commands.command("STARTTLS", "") + commands.command(*injected.partition(" ")[::2])
    if not _send(ctx, outcome, payload):
        return outcome
    reply = _read(ctx, outcome, ctx.step_timeout(step))
    if reply is None or reply.code != 220 or not _tls(ctx, outcome):
        return outcome
    outcome.replies.clear()  # from here on: only what arrives inside TLS
    until_quit(ctx, outcome, ctx.step_timeout(step))
    return outcome


def until_quit(ctx: Context, outcome: Outcome, timeout: float) -> None:
    """QUIT as a sentinel: every reply up to and including its 221, or until the server closes. The
    connection is over afterwards."""
    if not _send(ctx, outcome, b"QUIT\r\n"):
        return
    for _ in range(MAX_EXTRA):
        reply = _read(ctx, outcome, timeout)
        if reply is None or reply.code == 221:
            break
    ctx.quit_sent = True


def smuggle(ctx: Context, step: Step) -> Outcome:
    """DATA, then the message up to and including the bogus end-of-data, then the smuggled transaction
    and the real <CRLF>.<CRLF>: in one write, or (`split`) in a second write once the server has had the
    first alone — chasquid 1.11 and OpenSMTPD 6.8 end the data at a bare `\\n.\\n` only when what
    follows comes in a later read. Then QUIT as a sentinel: a server that took the bogus sequence for the
    end answers the smuggled MAIL, RCPT, DATA and message before the 221. The outcome holds every reply
    after DATA's 354 but the 221: one acceptance (the message) is right, more is a smuggled message."""
    outcome = Outcome()
    spec: dict = step.arg  # type: ignore[assignment]
    first = commands.unescape(ctx.env.fill(spec["message"]) + ctx.env.fill(spec["eod"]))
    rest = commands.unescape(ctx.env.fill(spec["smuggled"]))
    asked = time.monotonic()
    if _command(ctx, outcome, "DATA", ctx.step_timeout(step)) is None or outcome.reply.code != 354:  # type: ignore[union-attr]
        return outcome
    pace = time.monotonic() - asked
    outcome.replies.clear()
    split = spec["split"] if isinstance(spec["split"], bool) else ctx.env.fill(spec["split"]) == "yes"
    if split:
        if not _send(ctx, outcome, first):
            return outcome
        wait = min(max(SPLIT_WAIT, SPLIT_PACE * pace), SPLIT_MAX, ctx.step_timeout(step))
        _listen(ctx, outcome, wait)  # a vulnerable server answers now
        if outcome.closed:
            return outcome
        if outcome.replies and "PIPELINING" not in ctx.session.extensions:
            rest = _one_at_a_time(ctx, outcome, rest, ctx.step_timeout(step))
        if rest is None or not _send(ctx, outcome, rest):
            return outcome
    elif not _send(ctx, outcome, first + rest):
        return outcome
    if not outcome.replies and _read(ctx, outcome, ctx.step_timeout(step)) is None:
        return outcome
    until_quit(ctx, outcome, ctx.step_timeout(step))
    if outcome.replies and outcome.replies[-1].code == 221:
        outcome.replies.pop()
    return outcome


def _one_at_a_time(ctx: Context, outcome: Outcome, rest: bytes, timeout: float) -> bytes | None:
    """The server ended the data at the bogus sequence and does not offer PIPELINING: send the smuggled
    commands as a client must then (RFC 2920 §3.1), each after the last one's reply, up to DATA; return
    the message that follows (None when the conversation ended). OpenSMTPD 6.8 refuses them pipelined
    ("500 Pipelining not supported") but takes them this way."""
    while rest:
        line, sep, after = rest.partition(b"\r\n")
        if not sep or not _send(ctx, outcome, line + sep) or _read(ctx, outcome, timeout) is None:
            return None
        rest = after
        if line.upper() == b"DATA":
            break
    return rest


def burst(ctx: Context, step: Step) -> Outcome:
    """A burst of connections with smtpprobe.burst (greetings only, each held open `hold` seconds).
    The outcome holds the first refusal's greeting (or a close without one); when every connection
    was greeted, no reply and a note saying so."""
    from smtpprobe.burst import BurstPlan, run_burst

    outcome = Outcome()
    spec: dict = step.arg  # type: ignore[assignment]
    session = ctx.session
    plan = BurstPlan(
        host=session.host,
        port=session.port,
        connections=spec["connections"],
        rate=spec["rate"],
        hold=spec["hold"],
        stage="banner",
        tls="implicit" if AUTO_MODE[ctx.role] == "tls" else "none",
        timeout=ctx.step_timeout(step),
        connect_timeout=ctx.step_timeout(step),
        helo=ctx.env.fill("{helo}"),
    )
    try:
        report = run_burst(plan)
    except (UsageError, OSError) as exc:
        outcome.failure = str(exc)
        return outcome
    summary = (
        f"burst: {report.attempted} connections, {report.accepted} greeted, {report.refused} refused, "
        f"{report.errors} errors, at most {report.peak_open} open at once"
    )
    session.transcript.info(summary)
    first = report.first_refusal
    if first is not None:
        text = str(first["reply"])
        session.transcript.info(
            f"first refusal: connection #{first['index']}, {first['accepted_before']} greeted before it, "
            f"{first['open_connections']} open then: {text}"
        )
        if text[:3].isdigit():
            lines = tuple(line[4:] for line in text.split(" / "))
            outcome.replies.append(Reply(int(text[:3]), lines, text.encode()))
        else:
            outcome.closed = True  # closed or reset without a greeting
            outcome.note = f"connection #{first['index']}: {text.strip('()')}"
    elif report.errors and not report.accepted:
        ctx.unreachable = True
        outcome.failure = "; ".join(f"{n} x {kind}" for kind, n in report.error_kinds.items())
    else:
        outcome.note = (
            f"all {report.accepted} of {report.attempted} connections greeted, "
            f"{report.peak_open} open at once" + (f" ({report.errors} errors)" if report.errors else "")
        )
    return outcome
