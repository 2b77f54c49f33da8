"""How explanations name what a step sent and where a window was judged (pure wording, no I/O)."""

from __future__ import annotations

import itertools

from smtpprobe.protocol import commands
from smtpprobe.scenario.actions import AUTO_MODE, Context
from smtpprobe.scenario.model import Scenario, Step
from smtpprobe.scenario.variables import TemplateError


def where(holder: Step, at: Step, ctx: Context, scenario: Scenario) -> str:
    if holder.since is None:
        return f"to {what(holder, ctx)} (step {holder.number})"
    start = next(s for s in scenario.steps if s.number == holder.since)
    seen = f", here at step {at.number} ({what(at, ctx)})" if at.number != holder.number else ""
    return (
        f"at or before step {holder.number} ({what(holder, ctx)}) from step {start.number} "
        f"({what(start, ctx)}) on{seen}"
    )


def what(step: Step, ctx: Context) -> str:
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
            shown = line if len(line) <= 100 else f"{line[:60]}... ({len(line) + 2} octets)"
            return shown if step.repeat == 1 else f"{step.repeat} x {shown}"
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
        if step.kind == "smuggle":
            split = step.arg["split"]  # type: ignore[index]
            split = split if isinstance(split, bool) else ctx.env.fill(split) == "yes"
            eod = repr(commands.unescape(ctx.env.fill(step.arg["eod"])))[1:]  # type: ignore[index]
            return f"a message ending {eod} + a smuggled one" + (
                " in a later write" if split else " in one write"
            )
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


def sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]
