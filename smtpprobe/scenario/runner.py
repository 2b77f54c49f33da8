"""Running scenarios: one connection per (scenario, port role), judged step by step; many at once.

Windows: a judged step with `since = N` accepts its expected answer at any step from N to itself.
The first step in the window whose outcome matches, or that is refused or ends the connection,
decides; the rest of the window is not sent. That is how "a bad HELO is refused at or before RCPT"
covers both a server that refuses at HELO and Postfix's smtpd_delay_reject=yes, which refuses at RCPT.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from smtpprobe.errors import SmtpProbeError
from smtpprobe.scenario import expect as ex
from smtpprobe.scenario import gates
from smtpprobe.scenario.actions import ACTIONS, AUTO_MODE, Context, check_closed, quit_politely
from smtpprobe.scenario.model import Expectation, Scenario, Step
from smtpprobe.scenario.target import Target
from smtpprobe.scenario.variables import Environment, TemplateError
from smtpprobe.scenario.verdict import Check, Result, Verdict, judged, worst
from smtpprobe.scenario.wording import cap, sentence, what, where
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


class Gated(Exception):
    def __init__(self, gate: gates.Gate, step: int):
        self.gate, self.step = gate, step


MAX_ATTEMPTS = 3  # the scenario, then again past STARTTLS, then past AUTH


def run_one(scenario: Scenario, role: str, target: Target) -> Result:
    started = time.monotonic()
    transcript = Transcript()
    port = target.ports[role]
    if scenario.delivers and not target.local_rcpt_given:
        text = "not run: this probe delivers mail to {local_rcpt}; give --local-rcpt ADDR to allow it"
        return _result(scenario, role, port, [Check(0, Verdict.SKIP, text + ".", text)], started, transcript)
    # a step may send the password in any command: hidden everywhere the transcript is shown
    transcript.hide(Environment(target.variables, scenario.variables, target.host).fill("{auth_password}"))
    prelude: tuple[str, ...] = ()
    satisfied: list[str] = []
    for _ in range(MAX_ATTEMPTS):
        session = Session(
            target.host, port, timeout=target.timeout, connect_timeout=target.timeout, transcript=transcript
        )
        ctx = Context(
            session,
            Environment(target.variables, scenario.variables, target.host),
            role,
            target.timeout,
            prelude=prelude,
            strict_pipelining="pipelining" not in scenario.judge_gates,
        )
        checks: list[Check] = []
        gated: Gated | None = None
        try:
            _drive(scenario, ctx, target.policy, checks)
        except Gated as exc:
            gated = exc
        except (
            SmtpProbeError,
            TemplateError,
        ) as exc:  # e.g. a variable's value put a line break in a command
            checks.append(Check(0, Verdict.ERROR, f"could not test: {exc}.", f"could not test: {exc}"))
            transcript.error(str(exc))
        finally:
            quit_politely(session, ctx.quit_sent)
        if gated is None:
            break
        step = _satisfy(gated.gate, scenario, ctx, target, prelude)
        if step is None:
            text = f"not tested: gated by {gated.gate.describe()}"
            checks = [Check(gated.step, Verdict.SKIP, text + ".", text)]
            break
        transcript.info(f"gated by {gated.gate.describe()}: the scenario again, {gates.HOW[step]}")
        satisfied.append(f"{gates.HOW[step]}, as the server required ({gated.gate.describe()})")
        prelude = (*prelude, step)
    if (
        "needs-local-rcpt" in scenario.tags
        and not target.local_rcpt_given
        and worst(checks) in (Verdict.INFO, Verdict.WARN, Verdict.FAIL)
    ):
        text = (
            "not tested: the default recipient <postmaster> was accepted, and a server may take it whatever "
            "else is wrong (RFC 5321 §4.5.1; Postfix does); give --local-rcpt ADDR"
        )
        checks = [Check(checks[-1].step, Verdict.SKIP, text + ".", text)]
    checks = [Check(c.step, c.verdict, transcript.redact(c.explanation), transcript.redact(c.short)) for c in checks]
    return _result(scenario, role, port, checks, started, transcript, ctx.unreachable, satisfied)


def _satisfy(
    gate: gates.Gate, scenario: Scenario, ctx: Context, target: Target, prelude: tuple[str, ...]
) -> str | None:
    """What to do before the scenario's steps to get past the gate, or None (the gate's note says why)."""
    reconnects = scenario.steps[0].kind == "connect"
    note = None
    if gate.kind == gates.STARTTLS:
        if "starttls" in prelude or ctx.session.tls is not None or AUTO_MODE[ctx.role] == "tls":
            note = "it persists inside TLS"
        elif not reconnects:
            note = "this probe cannot start with STARTTLS"
        elif ctx.session.extensions and "STARTTLS" not in ctx.session.extensions:
            note = "the server does not offer STARTTLS"
        else:
            return "starttls"
    elif gate.kind == gates.AUTH:
        if not (target.variables.get("auth_user") and target.variables.get("auth_password")):
            note = "give --auth-user and --auth-password to test past it"
        elif "auth" in prelude or not reconnects:
            note = "it persists after AUTH"
        elif ctx.session.tls is None and "STARTTLS" not in ctx.session.extensions:
            note = "no STARTTLS to protect the credentials, which never go in clear text"
        else:
            return "auth"
    gate.note = note or ""
    return None


def _result(
    scenario: Scenario,
    role: str,
    port: int,
    checks: list[Check],
    started: float,
    transcript: Transcript,
    unreachable: bool = False,
    satisfied: list[str] | None = None,
) -> Result:
    verdict = worst(checks)
    # the worst first: the reason explains the verdict (a control step's fail after the step it controls warned)
    problems = sorted((c for c in checks if c.verdict is not Verdict.PASS), key=lambda c: -c.verdict.rank)
    summary = problems[0].explanation if problems else ""
    reason = problems[0].short if problems else ""
    if len(problems) > 1:
        summary += " Also: " + "; ".join(p.short for p in problems[1:]) + "."
        reason += f" (+{len(problems) - 1} more)"
    if satisfied and verdict is not Verdict.SKIP:
        done = "; ".join(satisfied)
        summary = f"{summary} (Tested {done}.)" if summary else f"Tested {done}."
        reason = f"{reason} [{done}]" if reason else ""
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
        unreachable=unreachable,
        source=scenario.source,
    )


def _gate(scenario: Scenario, step: Step, outcome: ex.Outcome) -> None:
    """Raise Gated when a reply of this step is a gate the scenario does not judge."""
    for index, reply in enumerate(outcome.replies):
        kind = gates.classify(
            reply,
            greeting=index == 0 and step.kind in ("connect", "pre_greeting", "burst"),
            pipelined=step.kind in ("pipeline", "pre_greeting") or step.repeat > 1,
        )
        if kind is not None and kind not in scenario.judge_gates:
            raise Gated(gates.Gate(kind, reply), step.number)


def _drive(scenario: Scenario, ctx: Context, policy: str, checks: list[Check]) -> None:
    window_of = {n: s for s in scenario.steps if s.since is not None for n in range(s.since, s.number)}
    skip_through = -1
    for step in scenario.steps:
        if step.number <= skip_through:
            continue
        if step.when is not None and not _when_holds(step.when, ctx.named):
            ctx.session.transcript.info(
                f"step {step.number}: not sent: step {step.when[0]!r} got "
                f"{_reply_words(ctx.named, step.when[0])}, not {ex.describe(step.when[1])}"
            )
            continue
        ctx.session.transcript.info(
            f"step {step.number}: {step.kind}" + (f" ({step.name})" if step.name else "")
            if step.number
            else "connect (implicit first step)"
        )
        outcome = ACTIONS[step.kind](ctx, step)
        outcome.tls = ctx.session.tls is not None and (ctx.session.sock is not None or ctx.quit_sent)
        outcome.enhanced_offered = "ENHANCEDSTATUSCODES" in ctx.session.extensions
        outcome.earlier = ctx.named
        _gate(scenario, step, outcome)
        if step.name:
            ctx.named[step.name] = outcome.reply
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
            if (
                check.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.SKIP)
                or _ended(outcome)
                or outcome.missing
            ):
                return  # after a missing STARTTLS, the steps meant for inside TLS would go out in plaintext
            continue
        if holder is not None:
            continue  # inside a window, not refused yet: carry on towards the judged step
        if outcome.missing:
            if step.if_missing == "fail":
                text = f"{what(step, ctx)} needs it: {outcome.missing}"
                checks.append(
                    Check(
                        step.number,
                        judged(step.basis or scenario.basis, policy),
                        f"{cap(text)}: {sentence(step.why or scenario.why)}",
                        text,
                    )
                )
            else:
                text = f"not applicable: {outcome.missing}"
                checks.append(Check(step.number, Verdict.SKIP, text, text))
            return
        if outcome.terminal:
            text = (
                f"could not test: {what(step, ctx)} (step {step.number}) got {ex.describe_outcome(outcome)}"
            )
            checks.append(Check(step.number, Verdict.ERROR, text + ".", text))
            return


def _when_holds(when: tuple[str, Expectation], named: dict) -> bool:
    """A step's `when`: the named earlier step was sent and its reply matches (never sent: no)."""
    name, expectation = when
    if name not in named:
        return False
    reply = named[name]
    return ex.matches(expectation, ex.Outcome(replies=[reply] if reply else [], closed=reply is None))


def _reply_words(named: dict, name: str) -> str:
    if name not in named:
        return "nothing (it was not sent)"
    return ex.describe_outcome(
        ex.Outcome(replies=[named[name]] if named[name] else [], closed=named[name] is None)
    )


def _ended(outcome: ex.Outcome) -> bool:
    """The conversation is over: closed, silent, broken, or a 421 (RFC 5321 §3.8: the server closes)."""
    reply = outcome.reply
    return (
        outcome.closed
        or outcome.timed_out
        or outcome.failure is not None
        or (reply is not None and reply.code == 421)
    )


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
    why = sentence(holder.why or scenario.why)
    sent = what(at, ctx)
    failed = next(((e, r) for e, r in pairs if outcome.missing or not ex.matches(e, outcome, r)), None)  # type: ignore[arg-type]
    if failed is None:
        got = ex.describe_outcome(outcome)
        return Check(at.number, Verdict.PASS, f"{sent}: got {got}", f"{sent}: got {got}")
    # not what was expected: leniency the RFC allows (info), or a departure without known harm (warn)?
    if holder.info_if is not None and not outcome.missing and ex.matches(holder.info_if, outcome):
        got = ex.describe_outcome(outcome)
        reference = holder.reference or scenario.reference
        return Check(
            at.number,
            Verdict.INFO,
            f"{cap(sent)}: got {got}, a leniency the RFC allows [{reference}]: {why}",
            f"{sent}: got {got} (allowed)",
        )
    if holder.warn_if is not None and not outcome.missing and ex.matches(holder.warn_if, outcome):
        expected = ex.describe(pairs[0][0]) if len(pairs) == 1 else "the expected replies"  # type: ignore[arg-type]
        short = f"{sent}: expected {expected}, got {ex.describe_outcome(outcome)}"
        return Check(
            at.number,
            Verdict.WARN,
            f"Expected {expected} {where(holder, at, ctx, scenario)}, got "
            f"{ex.describe_outcome(outcome)}, which is only worth a warn: {why}",
            short,
        )
    expectation, reply = failed
    got = ex.describe_outcome(
        outcome,
        reply,  # type: ignore[arg-type]
        show_extensions=bool(expectation.advertises or expectation.not_advertises),
        show_count=_counts(expectation),
    )
    place = where(holder, at, ctx, scenario)
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
        f"Expected {ex.describe(expectation)} {place}, got {got}: {why[:-1]} [{reference}]{lenient}.",
        short,
    )


def _counts(expectation: Expectation) -> bool:
    return (
        expectation.replies is not None
        or expectation.accepted_at_most is not None
        or any(_counts(e) for e in expectation.any_of)
    )
