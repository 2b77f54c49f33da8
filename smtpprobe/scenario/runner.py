"""Running scenarios: one connection per (scenario, port role), judged step by step; many at once.

Windows: a judged step with `since = N` accepts its expected answer at any step from N to itself.
The first step in the window whose outcome matches, or that is refused or ends the connection,
decides; the rest of the window is not sent. That is how "a bad HELO is refused at or before RCPT"
covers both a server that refuses at HELO and Postfix's smtpd_delay_reject=yes, which refuses at RCPT.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from smtpprobe.errors import SmtpProbeError
from smtpprobe.protocol import commands
from smtpprobe.scenario import expect as ex
from smtpprobe.scenario.actions import ACTIONS, AUTO_MODE, Context, check_closed, quit_politely
from smtpprobe.scenario.model import Expectation, Scenario, Step
from smtpprobe.scenario.target import Target
from smtpprobe.scenario.variables import Environment, TemplateError
from smtpprobe.scenario.verdict import Check, Result, Verdict, judged, worst
from smtpprobe.session import Session
from smtpprobe.transcript import Transcript

DEFAULT_CONCURRENCY = 4


def run_all(
    scenarios: list[Scenario],
    target: Target,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Every scenario on every selected port where it applies; results in catalogue order. Exclusive
    scenarios run last, one at a time, with nothing else open."""
    from smtpprobe.caps import BURSTS

    BURSTS.new_run()  # every burst of this run together stays within the safety cap
    jobs = [(s, role) for s in scenarios for role in s.ports if role in target.ports]
    results: list[Result | None] = [None] * len(jobs)

    def done(index: int, result: Result) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="scenario")
    try:
        futures = {
            pool.submit(run_one, s, role, target): i for i, (s, role) in enumerate(jobs) if not s.exclusive
        }
        for future in as_completed(futures):
            done(futures[future], future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # running ones end within their timeouts
        raise
    pool.shutdown()
    for i, (s, role) in enumerate(jobs):
        if s.exclusive:
            done(i, run_one(s, role, target))
    return [r for r in results if r is not None]


def run_one(scenario: Scenario, role: str, target: Target) -> Result:
    started = time.monotonic()
    transcript = Transcript()
    port = target.ports[role]
    session = Session(
        target.host, port, timeout=target.timeout, connect_timeout=target.timeout, transcript=transcript
    )
    ctx = Context(
        session, Environment(target.variables, scenario.variables, target.host), role, target.timeout
    )
    checks: list[Check] = []
    try:
        transcript.hide(ctx.env.fill("{auth_password}"))  # a step may send it in any command
        _drive(scenario, ctx, target.policy, checks)
    except (SmtpProbeError, TemplateError) as exc:  # e.g. a variable's value put a line break in a command
        checks.append(Check(0, Verdict.ERROR, f"could not test: {exc}.", f"could not test: {exc}"))
        transcript.error(str(exc))
    finally:
        quit_politely(session)
    checks = [Check(c.step, c.verdict, transcript.redact(c.explanation), transcript.redact(c.short)) for c in checks]
    verdict = worst(checks)
    problems = [c for c in checks if c.verdict is not Verdict.PASS]
    summary = problems[0].explanation if problems else ""
    reason = problems[0].short if problems else ""
    if len(problems) > 1:
        summary += " Also: " + "; ".join(p.short for p in problems[1:]) + "."
        reason += f" (+{len(problems) - 1} more)"
    return Result(
        scenario.id,
        scenario.title,
        role,
        port,
        verdict,
        summary,
        reason,
        scenario.basis,
        scenario.reference,
        scenario.tags,
        checks,
        time.monotonic() - started,
        transcript.to_json(),
        unreachable=ctx.unreachable,
        source=scenario.source,
    )


def _drive(scenario: Scenario, ctx: Context, policy: str, checks: list[Check]) -> None:
    window_of = {n: s for s in scenario.steps if s.since is not None for n in range(s.since, s.number)}
    skip_through = -1
    for step in scenario.steps:
        if step.number <= skip_through:
            continue
        ctx.session.transcript.info(
            f"step {step.number}: {step.kind}" + (f" ({step.name})" if step.name else "")
            if step.number
            else "connect (implicit first step)"
        )
        outcome = ACTIONS[step.kind](ctx, step)
        outcome.tls = ctx.session.tls is not None and ctx.session.sock is not None
        holder = step if step.judged else window_of.get(step.number)
        if holder is not None and (
            step.judged
            or ex.matches(holder.expect, outcome)  # type: ignore[arg-type]
            or outcome.terminal
        ):
            if (
                isinstance(holder.expect, Expectation)
                and holder.expect.wants_close_check()
                and not outcome.closed
                and not ex.matches(holder.expect, outcome)
            ):
                check_closed(ctx, outcome, ctx.step_timeout(holder))
            check = _judge(scenario, holder, step, outcome, ctx, policy)
            checks.append(check)
            skip_through = holder.number
            if check.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.SKIP) or _ended(outcome):
                return
            continue
        if holder is not None:
            continue  # inside a window, not refused yet: carry on towards the judged step
        if outcome.missing:
            if step.if_missing == "fail":
                text = f"{_what(step, ctx)} needs it: {outcome.missing}"
                checks.append(
                    Check(
                        step.number,
                        judged(step.basis or scenario.basis, policy),
                        f"{_cap(text)}: {_sentence(step.why or scenario.why)}",
                        text,
                    )
                )
            else:
                text = f"not applicable: {outcome.missing}"
                checks.append(Check(step.number, Verdict.SKIP, text, text))
            return
        if outcome.terminal:
            text = (
                f"could not test: {_what(step, ctx)} (step {step.number}) got {ex.describe_outcome(outcome)}"
            )
            checks.append(Check(step.number, Verdict.ERROR, text + ".", text))
            return


def _ended(outcome: ex.Outcome) -> bool:
    return outcome.closed or outcome.timed_out or outcome.failure is not None


def _judge(
    scenario: Scenario, holder: Step, at: Step, outcome: ex.Outcome, ctx: Context, policy: str
) -> Check:
    """The verdict of a judged step (or of its window), with the sentence that explains it."""
    if outcome.missing and holder.if_missing != "fail":
        text = f"not applicable: {outcome.missing}"
        return Check(at.number, Verdict.SKIP, text, text)
    expectations = holder.expect
    if isinstance(expectations, tuple):  # a pipeline: one expectation per reply, in order
        pairs = [
            (e, outcome.replies[i] if i < len(outcome.replies) else None) for i, e in enumerate(expectations)
        ]
    else:
        pairs = [(expectations, None)]  # type: ignore[list-item]
    why = _sentence(holder.why or scenario.why)
    sent = _what(at, ctx)
    if holder.warn_if is not None and not outcome.missing and ex.matches(holder.warn_if, outcome):
        expected = ex.describe(pairs[0][0]) if len(pairs) == 1 else "the expected replies"  # type: ignore[arg-type]
        short = f"{sent}: expected {expected}, got {ex.describe_outcome(outcome)}"
        return Check(
            at.number,
            Verdict.WARN,
            f"Expected {expected} {_where(holder, at, ctx, scenario)}, got "
            f"{ex.describe_outcome(outcome)}, which is only worth a warn: {why}",
            short,
        )
    failed = next(((e, r) for e, r in pairs if outcome.missing or not ex.matches(e, outcome, r)), None)  # type: ignore[arg-type]
    if failed is None:
        got = ex.describe_outcome(outcome)
        return Check(at.number, Verdict.PASS, f"{sent}: got {got}", f"{sent}: got {got}")
    expectation, reply = failed
    got = ex.describe_outcome(
        outcome,
        reply,  # type: ignore[arg-type]
        show_extensions=bool(expectation.advertises or expectation.not_advertises),
        show_count=_counts(expectation),
    )
    where = _where(holder, at, ctx, scenario)
    if ctx.unreachable or (outcome.timed_out and not outcome.replies and expectation.silent is None):
        text = f"could not test: {sent} (step {at.number}) got {got}"
        return Check(at.number, Verdict.ERROR, text + ".", text)
    short = f"{sent}: expected {ex.describe(expectation)}, got {got}"
    basis = holder.basis or scenario.basis
    lenient = " (a warn under --policy rfc, a fail under --policy hardened)" if basis == "hardening" else ""
    reference = holder.reference or scenario.reference
    return Check(
        at.number,
        judged(basis, policy),
        f"Expected {ex.describe(expectation)} {where}, got {got}: {why[:-1]} [{reference}]{lenient}.",
        short,
    )


def _counts(expectation: Expectation) -> bool:
    return expectation.replies is not None or any(_counts(e) for e in expectation.any_of)


def _where(holder: Step, at: Step, ctx: Context, scenario: Scenario) -> str:
    if holder.since is None:
        return f"to {_what(holder, ctx)} (step {holder.number})"
    start = next(s for s in scenario.steps if s.number == holder.since)
    seen = f", here at step {at.number} ({_what(at, ctx)})" if at.number != holder.number else ""
    return (
        f"at or before step {holder.number} ({_what(holder, ctx)}) from step {start.number} "
        f"({_what(start, ctx)}) on{seen}"
    )


def _what(step: Step, ctx: Context) -> str:
    """What a step sent, as the explanation shows it."""
    try:
        if step.kind == "connect":
            mode = AUTO_MODE[ctx.role] if step.arg == "auto" else step.arg
            return {
                "plain": "the greeting",
                "tls": "the TLS handshake and greeting",
                "starttls": "the greeting, EHLO and STARTTLS",
            }[str(mode)]
        if step.kind == "send":
            line = ctx.env.fill(str(step.arg))
            return line if len(line) <= 100 else f"{line[:60]}... ({len(line) + 2} octets)"
        if step.kind == "pipeline":
            verbs = [ctx.env.fill(line).split(" ")[0] for line in step.arg]  # type: ignore[attr-defined]
            groups = [(v, len(list(g))) for v, g in itertools.groupby(verbs)]
            return "the pipelined " + ", ".join(v if n == 1 else f"{n} x {v}" for v, n in groups)
        if step.kind == "raw":
            return f"raw bytes {ctx.env.fill(str(step.arg))[:60]!r}"
        if step.kind == "auth":
            return f"AUTH {step.arg['mechanism']}"  # type: ignore[index]
        if step.kind == "pre_greeting":
            sent = repr(commands.unescape(ctx.env.fill(str(step.arg))))[1:]  # b'...' without the b
            return f"{sent[:60]} sent before the greeting"
        if step.kind == "starttls_inject":
            return f"STARTTLS with {ctx.env.fill(str(step.arg))!r} in the same segment"
        if step.kind == "burst":
            return f"a burst of {step.arg['connections']} connections"  # type: ignore[index]
        if step.kind == "tls_posture":
            return f"a TLS scan of the port ({step.arg})"
        if step.kind == "proxy":
            return f"a PROXY v{step.arg['version']} header"  # type: ignore[index]
        return {
            "starttls": "STARTTLS",
            "data": "the message after DATA",
            "data_raw": "raw message bytes after DATA",
            "wait_closed": "waiting for the server to close",
            "pause": "a pause",
            "read": "the wait for a further reply",
        }[step.kind]
    except TemplateError:
        return step.kind


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
