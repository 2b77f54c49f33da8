"""A scenario's step tables: validated into Steps, with names, windows (`since`) and options (no I/O).

The action key of each step is parsed by its kind in steps.py; this module handles what every step shares.
"""

from __future__ import annotations

from smtpprobe.scenario.errors import SpecError
from smtpprobe.scenario.expect_spec import parse_expectation
from smtpprobe.scenario.lines import Locator
from smtpprobe.scenario.model import BASES, ID, Expectation, Step
from smtpprobe.scenario.steps import CONNECTING, KINDS

MAX_STEPS = 200
STEP_KEYS = {
    "name",
    "expect",
    "warn_if",
    "info_if",
    "repeat",
    "since",
    "when",
    "timeout",
    "if_missing",
    "basis",
    "reference",
    "why",
}
MAX_REPEAT = 2000  # a conformance check, not a load test: 1050 recipients is the catalogue's largest
REPEATABLE = {"send", "pipeline"}


def parse_steps(raw_steps: list[dict], fail, locate: Locator, scenario_index: int) -> list[Step]:
    names: dict[str, int] = {}
    steps: list[Step] = []
    for number, raw in enumerate(raw_steps, 1):
        actions = [k for k in raw if k in KINDS]
        unknown = [k for k in raw if k not in KINDS and k not in STEP_KEYS]
        if unknown:
            raise fail(
                unknown[0],
                f"unknown step key (actions: {', '.join(KINDS)}; options: {', '.join(sorted(STEP_KEYS))})",
                number,
            )
        if len(actions) != 1:
            raise fail(
                ", ".join(actions) or "step",
                f"a step needs exactly one action ({', '.join(KINDS)}), got {len(actions)}",
                number,
            )
        kind = actions[0]
        try:
            step = _step(kind, raw, number, names)
        except SpecError as exc:
            raise fail(exc.key, str(exc), number) from None
        if step.name:
            names[step.name] = number
        steps.append(Step(**{**step.__dict__, "line": locate.step_line(scenario_index, number)}))
    if steps[0].kind not in CONNECTING:
        steps.insert(0, Step("connect", "auto", 0))  # step 0: the numbers stay as written
    _check_windows(steps, fail)
    return steps


def _step(kind: str, raw: dict, number: int, names: dict[str, int]) -> Step:
    arg = KINDS[kind](raw[kind])
    if kind in CONNECTING and number != 1:
        raise SpecError(kind, "only the first step may connect (one scenario = one connection)")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not ID.fullmatch(name) or name in names):
        raise SpecError("name", "must be a unique lower-case name (letters, digits, '.', '_', '-')")
    expect: Expectation | tuple[Expectation, ...] | None = None
    if "expect" in raw:
        value = raw["expect"]
        if kind == "pipeline" and isinstance(value, list):
            if len(value) != len(arg):  # type: ignore[arg-type]
                raise SpecError(
                    "expect",
                    f"a pipeline of {len(arg)} commands needs 1 table or {len(arg)}, "  # type: ignore[arg-type]
                    f"got {len(value)}",
                )
            expect = tuple(parse_expectation(v, "expect") for v in value)
        else:
            expect = parse_expectation(value, "expect")
    warn_if = parse_expectation(raw["warn_if"], "warn_if") if "warn_if" in raw else None
    if warn_if is not None and expect is None:
        raise SpecError("warn_if", "needs an `expect` on the same step")
    info_if = parse_expectation(raw["info_if"], "info_if") if "info_if" in raw else None
    if info_if is not None and expect is None:
        raise SpecError("info_if", "needs an `expect` on the same step")
    repeat = raw.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise SpecError("repeat", f"must be a whole number from 1 to {MAX_REPEAT}, got {repeat!r}")
    if "repeat" in raw and kind not in REPEATABLE:
        raise SpecError("repeat", f"only a {' or '.join(sorted(REPEATABLE))} step can be repeated")
    if "repeat" in raw and isinstance(expect, tuple):
        raise SpecError("repeat", "a repeated pipeline takes one `expect` table for every reply")
    for table in (expect, warn_if, info_if):
        for one in table if isinstance(table, tuple) else (table,):
            for ref in _same_as(one):
                if ref not in names:
                    raise SpecError("expect.same_as", f"no earlier step is named {ref!r}")
    since = _since(raw.get("since"), number, names)
    if since is not None and not isinstance(expect, Expectation):
        raise SpecError("since", "needs an `expect` table on the same step")
    when = _when(raw.get("when"), names)
    if when is not None and since is not None:
        raise SpecError(
            "when", "a step with `since` is always sent (its window decides): drop one of the two"
        )
    timeout = None
    if "timeout" in raw:
        timeout = _num("timeout", raw["timeout"], 0.1, 600)
    if_missing = raw.get("if_missing", "skip")
    if (
        if_missing not in ("skip", "fail", "try")
        or ("if_missing" in raw and kind not in ("starttls", "starttls_inject", "auth", "connect"))
        or (if_missing == "try" and kind != "auth")
    ):
        raise SpecError(
            "if_missing",
            "must be 'skip' or 'fail' on a starttls, auth or connect step "
            "('try' on auth: send it even when not offered)",
        )
    basis = raw.get("basis")
    if basis is not None and basis not in BASES:
        raise SpecError("basis", f"must be 'rfc' or 'hardening', got {basis!r}")
    for key in ("reference", "why"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            raise SpecError(key, "must be a non-empty string")
    return Step(
        kind,
        arg,
        number,
        name=name,
        expect=expect,
        warn_if=warn_if,
        info_if=info_if,
        repeat=repeat,
        since=since,
        when=when,
        timeout=timeout,
        if_missing=if_missing,
        basis=basis,
        reference=raw.get("reference"),
        why=raw.get("why"),
    )


def _same_as(expect: Expectation | None) -> list[str]:
    if expect is None:
        return []
    return ([expect.same_as] if expect.same_as else []) + [n for e in expect.any_of for n in _same_as(e)]


WHEN_KEYS = {"code", "class", "text", "refused"}  # about the named step's reply alone


def _when(value: object, names: dict[str, int]) -> tuple[str, Expectation] | None:
    """`when = { step = "trick", refused = false }`: send this step only if that earlier step's reply
    matched (a control that only means something after the step it controls was accepted)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("step"), str):
        raise SpecError("when", 'must be a table naming an earlier step: { step = "name", refused = false }')
    if value["step"] not in names:
        raise SpecError("when.step", f"no earlier step is named {value['step']!r}")
    rest = {k: v for k, v in value.items() if k != "step"}
    for k in rest:
        if k not in WHEN_KEYS:
            raise SpecError(
                f"when.{k}", f"not a condition on a reply (allowed: {', '.join(sorted(WHEN_KEYS))})"
            )
    if not rest:
        raise SpecError(
            "when", f"needs a condition on step {value['step']!r}'s reply ({', '.join(sorted(WHEN_KEYS))})"
        )
    return value["step"], parse_expectation(rest, "when")


def _since(value: object, number: int, names: dict[str, int]) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in names:
            raise SpecError("since", f"no earlier step is named {value!r}")
        return names[value]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < number:
        raise SpecError("since", f"must name or number an earlier step (1 to {number - 1}), got {value!r}")
    return value


def _check_windows(steps: list[Step], fail) -> None:
    for step in steps:
        if step.since is None:
            continue
        for inner in steps:
            if step.since <= inner.number < step.number and inner.judged:
                raise fail(
                    "since",
                    f"step {inner.number} has its own expect inside this step's window "
                    f"(steps {step.since} to {step.number})",
                    step.number,
                )


def _num(key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise SpecError(key, f"must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)
