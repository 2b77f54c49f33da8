"""Actions of the security-probe step kinds: talking before the greeting, STARTTLS with a command
injected in the same segment, and a burst of connections. Registered in actions.ACTIONS.

Like every action, none of them raises: what happened goes into the Outcome.
"""

from __future__ import annotations

from smtpprobe.errors import SmtpProbeError, UsageError
from smtpprobe.protocol import commands
from smtpprobe.protocol.reply import Reply
from smtpprobe.scenario.actions import (
    AUTO_MODE,
    Context,
    _closed,
    _listen,
    _read,
    _send,
    _tls,
    learn_greeting,
    open_connection,
)
from smtpprobe.scenario.expect import Outcome
from smtpprobe.scenario.model import Step

INJECT_WAIT = 2.0  # seconds to wait inside TLS for a reply nobody asked for (testssl.sh, EAST use 1-2 s)
TRAILING_WAIT = 1.0  # after the NOOP's reply: is another one queued behind it?
MAX_EXTRA = 5  # replies read per wait; a server that floods is injectable enough


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
    """`STARTTLS\\r\\n<command>\\r\\n` in one write; on 220 the handshake; then every reply that arrives
    inside TLS: first unasked (INJECT_WAIT), then around a NOOP of ours. A server that discards the
    plaintext it buffered before TLS (RFC 3207 §4.2) sends exactly one reply, the NOOP's; one that
    runs the injected command sends two (CVE-2011-0411). A refusal of STARTTLS is the outcome as is."""
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
    wait = min(INJECT_WAIT, ctx.step_timeout(step))
    if not _collect(ctx, outcome, wait):
        return outcome
    if not _send(ctx, outcome, b"NOOP\r\n"):
        return outcome
    if _read(ctx, outcome, ctx.step_timeout(step)) is not None:
        _collect(ctx, outcome, min(TRAILING_WAIT, wait))
    return outcome


def _collect(ctx: Context, outcome: Outcome, wait: float) -> bool:
    """Replies that arrive within `wait` seconds without our asking. False when the connection ended."""
    for _ in range(MAX_EXTRA):
        if _listen(ctx, outcome, wait) is None:
            return not outcome.closed and outcome.failure is None
    return True


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
