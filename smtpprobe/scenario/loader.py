"""Reading scenario files and folders: TOML in, validated Scenarios out, before any connection.

Every problem is a ScenarioError naming the file, the scenario, the step and the key, with the line
when it can be found (tomllib gives no positions, so lines.py looks for the key in the text).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from smtpprobe.scenario import variables
from smtpprobe.scenario.errors import ScenarioError, SpecError
from smtpprobe.scenario.expect import ENHANCED_PATTERN
from smtpprobe.scenario.lines import Locator
from smtpprobe.scenario.model import BASES, PORT_ROLES, Expectation, Scenario, Step
from smtpprobe.scenario.steps import KINDS, templates

MAX_FILE_BYTES = 2_000_000
MAX_STEPS = 200
MAX_CASES = 500
ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
FILE_KEYS = {"scenario", "vars"}
SCENARIO_KEYS = {
    "id",
    "title",
    "basis",
    "reference",
    "why",
    "ports",
    "tags",
    "exclusive",
    "vars",
    "cases",
    "step",
}
STEP_KEYS = {"name", "expect", "warn_if", "since", "timeout", "if_missing", "basis", "reference", "why"}
EXPECT_KEYS = {
    "code",
    "class",
    "enhanced",
    "text",
    "refused",
    "closed",
    "silent",
    "tls",
    "advertises",
    "not_advertises",
    "any_of",
    "describe",
}
FOREIGN = {"foreign_rcpt", "foreign_user", "foreign_domain"}


def load_paths(paths: list[str | Path]) -> list[Scenario]:
    """Scenarios from files and folders (every *.toml in a folder, sorted, not recursive). Ids must be
    unique across everything loaded."""
    scenarios: list[Scenario] = []
    seen: dict[str, str] = {}
    for path in _files(paths):
        for scenario in load_file(path):
            if scenario.id in seen:
                raise ScenarioError(
                    str(path),
                    f"duplicate id (also in {seen[scenario.id]})",
                    scenario=scenario.id,
                    key="id",
                    line=Locator(path.read_text("utf-8")).scenario_line(scenario.base_id),
                )
            seen[scenario.id] = str(path)
            scenarios.append(scenario)
    return scenarios


def _files(paths: list[str | Path]) -> list[Path]:
    files = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if p.is_file())
            if not found:
                raise ScenarioError(str(path), "folder holds no *.toml scenario files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ScenarioError(str(path), "no such file or folder")
    return files


def load_file(path: str | Path) -> list[Scenario]:
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(name, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(name, f"larger than {MAX_FILE_BYTES} bytes; not a scenario file?")
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ScenarioError(name, f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = (
            int(found.group(1))
            if found
            else (len(text.splitlines()) if "end of document" in str(exc) else None)
        )
        raise ScenarioError(name, f"not valid TOML: {exc}", line=line) from None
    return parse_document(data, name, text)


def parse_document(data: dict, name: str, text: str = "") -> list[Scenario]:
    locate = Locator(text)
    for key in data:
        if key not in FILE_KEYS:
            raise ScenarioError(
                name, "unknown top-level key (allowed: scenario, vars)", key=key, line=locate.top_key(key)
            )
    file_vars = _vars(data.get("vars", {}), "vars", name, None, locate.top_key("vars"))
    entries = data.get("scenario")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ScenarioError(name, "needs at least one [[scenario]] table", key="scenario")
    scenarios: list[Scenario] = []
    for index, entry in enumerate(entries):
        scenarios.extend(_scenario(entry, index, name, file_vars, locate))
    return scenarios


def _scenario(
    entry: dict, index: int, name: str, file_vars: dict[str, str], locate: Locator
) -> list[Scenario]:
    sid = entry.get("id") if isinstance(entry.get("id"), str) else f"#{index + 1}"

    def fail(key: str, message: str, step: int | None = None) -> ScenarioError:
        return ScenarioError(
            name, message, scenario=sid, step=step, key=key, line=locate.key_line(index, key, step)
        )

    for key in entry:
        if key not in SCENARIO_KEYS:
            raise fail(key, f"unknown key (allowed: {', '.join(sorted(SCENARIO_KEYS))})")
    for key in ("id", "title", "basis", "reference", "why", "ports", "step"):
        if key not in entry:
            raise fail(key, "missing (required)")
    try:
        if not isinstance(entry["id"], str) or not ID.fullmatch(entry["id"]):
            raise SpecError(
                "id", "must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        for key in ("title", "reference", "why"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise SpecError(key, "must be a non-empty string")
        if entry["basis"] not in BASES:
            raise SpecError("basis", f"must be 'rfc' or 'hardening', got {entry['basis']!r}")
        ports = _strings("ports", entry["ports"])
        if not ports or any(p not in PORT_ROLES for p in ports):
            raise SpecError(
                "ports", f"must list port roles from {', '.join(PORT_ROLES)}, got {entry['ports']!r}"
            )
        tags = _strings("tags", entry.get("tags", []))
        exclusive = entry.get("exclusive", False)
        if not isinstance(exclusive, bool):
            raise SpecError("exclusive", "must be true or false")
    except SpecError as exc:
        raise fail(exc.key, str(exc)) from None
    own_vars = {
        **file_vars,
        **_vars(entry.get("vars", {}), "vars", name, sid, locate.key_line(index, "vars")),
    }
    cases = _cases(entry.get("cases"), own_vars, fail)
    raw_steps = entry["step"]
    if not isinstance(raw_steps, list) or not raw_steps or not all(isinstance(s, dict) for s in raw_steps):
        raise fail("step", "needs at least one [[scenario.step]] table")
    if len(raw_steps) > MAX_STEPS:
        raise fail("step", f"more than {MAX_STEPS} steps")
    steps = _steps(raw_steps, fail, locate, index)
    defined = {**own_vars, **{k: "" for case in cases for k in case[1]}}
    _check_templates(steps, cases, own_vars, fail)
    uses_foreign = any(
        n in FOREIGN for s in steps for t in templates(s.kind, s.arg) for n in _all_names(t, defined)
    )
    if uses_foreign or any(n in FOREIGN for _, cv in cases for v in cv.values() for n in variables.names(v)):
        for step in steps:
            if step.kind in ("data", "data_raw"):
                raise fail(
                    step.kind,
                    "a scenario addressing {foreign_rcpt} (a relay probe) must never send DATA",
                    step.number,
                )
    base = {
        "id": entry["id"],
        "title": entry["title"].strip(),
        "basis": entry["basis"],
        "reference": entry["reference"].strip(),
        "why": entry["why"].strip(),
        "ports": tuple(ports),
        "steps": tuple(steps),
        "tags": tuple(tags),
        "exclusive": exclusive,
        "source": name,
        "base_id": entry["id"],
    }
    if not cases:
        return [Scenario(variables=own_vars, **base)]  # type: ignore[arg-type]
    return [
        Scenario(
            **{**base, "id": f"{entry['id']}/{case_id}"},
            variables={**own_vars, **case_vars},  # type: ignore[arg-type]
            case=case_id,
        )
        for case_id, case_vars in cases
    ]


def _all_names(template: str, defined: dict[str, str]) -> list[str]:
    found = variables.names(template)
    return found + [n for name in found if name in defined for n in variables.names(defined[name])]


def _vars(value: object, key: str, name: str, sid: str | None, line: int | None) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ScenarioError(name, 'must be a table of name = "value"', scenario=sid, key=key, line=line)
    for var, text in value.items():
        if not variables.NAME.fullmatch(var) or var in variables.BUILTIN:
            why = (
                "is a built-in variable"
                if var in variables.BUILTIN
                else "must be lower-case letters, digits, _"
            )
            raise ScenarioError(
                name, f"variable name {var!r} {why}", scenario=sid, key=f"{key}.{var}", line=line
            )
        if not isinstance(text, str):
            raise ScenarioError(
                name, "variable values must be strings", scenario=sid, key=f"{key}.{var}", line=line
            )
    return dict(value)


def _cases(value: object, own_vars: dict[str, str], fail) -> list[tuple[str, dict[str, str]]]:
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_CASES
        or not all(isinstance(c, dict) for c in value)
    ):
        raise fail("cases", f"must be a list of 1 to {MAX_CASES} tables, each with an id and variables")
    cases, seen = [], set()
    for number, case in enumerate(value, 1):
        case_id = case.get("id")
        if not isinstance(case_id, str) or not ID.fullmatch(case_id):
            raise fail(
                f"cases[{number}].id", "each case needs an id: lower-case letters, digits, '.', '_', '-'"
            )
        if case_id in seen:
            raise fail(f"cases[{number}].id", f"duplicate case id {case_id!r}")
        seen.add(case_id)
        case_vars = {k: v for k, v in case.items() if k != "id"}
        for var, text in case_vars.items():
            if not variables.NAME.fullmatch(var) or var in variables.BUILTIN or not isinstance(text, str):
                raise fail(
                    f"cases[{number}].{var}",
                    "case variables need a lower-case name (not a built-in) and a string value",
                )
        cases.append((case_id, case_vars))
    return cases


def _check_templates(steps: list[Step], cases, own_vars: dict[str, str], fail) -> None:
    for case_id, case_vars in cases or [("", {})]:
        defined = {**own_vars, **case_vars}
        for var, value in defined.items():
            try:
                variables.check(value, defined)
            except variables.TemplateError as exc:
                raise fail(
                    f"cases.{case_id}.{var}" if var in case_vars else f"vars.{var}", str(exc)
                ) from None
        for step in steps:
            for template in templates(step.kind, step.arg):
                try:
                    variables.check(template, defined)
                except variables.TemplateError as exc:
                    suffix = f" (case {case_id!r})" if case_id else ""
                    raise fail(step.kind, f"{exc}{suffix}", step.number) from None


def _steps(raw_steps: list[dict], fail, locate: Locator, scenario_index: int) -> list[Step]:
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
    if steps[0].kind != "connect":
        steps.insert(0, Step("connect", "auto", 0))  # step 0: the numbers stay as written
    _check_windows(steps, fail)
    return steps


def _step(kind: str, raw: dict, number: int, names: dict[str, int]) -> Step:
    arg = KINDS[kind](raw[kind])
    if kind == "connect" and number != 1:
        raise SpecError("connect", "only the first step may connect (one scenario = one connection)")
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
    since = _since(raw.get("since"), number, names)
    if since is not None and not isinstance(expect, Expectation):
        raise SpecError("since", "needs an `expect` table on the same step")
    timeout = None
    if "timeout" in raw:
        timeout = _num("timeout", raw["timeout"], 0.1, 600)
    if_missing = raw.get("if_missing", "skip")
    if (
        if_missing not in ("skip", "fail", "try")
        or ("if_missing" in raw and kind not in ("starttls", "auth", "connect"))
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
        since=since,
        timeout=timeout,
        if_missing=if_missing,
        basis=basis,
        reference=raw.get("reference"),
        why=raw.get("why"),
    )


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


def parse_expectation(value: object, key: str) -> Expectation:
    if not isinstance(value, dict) or not value:
        raise SpecError(key, 'must be a table such as { code = 503 } or { class = "5xx" }')
    for k in value:
        if k not in EXPECT_KEYS:
            raise SpecError(f"{key}.{k}", f"unknown expectation (allowed: {', '.join(sorted(EXPECT_KEYS))})")
    fields: dict[str, object] = {}
    if "code" in value:
        codes = value["code"] if isinstance(value["code"], list) else [value["code"]]
        if not codes or any(
            isinstance(c, bool) or not isinstance(c, int) or not 200 <= c <= 599 for c in codes
        ):
            raise SpecError(
                f"{key}.code",
                f"must be a reply code from 200 to 599 or a list of them, got {value['code']!r}",
            )
        fields["codes"] = tuple(codes)
    if "class" in value:
        classes = value["class"] if isinstance(value["class"], list) else [value["class"]]
        if not classes or any(c not in ("2xx", "3xx", "4xx", "5xx") for c in classes):
            raise SpecError(
                f"{key}.class", f'must be "2xx", "3xx", "4xx", "5xx" or a list, got {value["class"]!r}'
            )
        fields["classes"] = tuple(int(c[0]) for c in classes)
    if "enhanced" in value:
        patterns = _strings(f"{key}.enhanced", value["enhanced"])
        if not patterns or any(not ENHANCED_PATTERN.fullmatch(p) for p in patterns):
            raise SpecError(
                f"{key}.enhanced", f'must be codes like "5.7.1" or "5.7.*", got {value["enhanced"]!r}'
            )
        fields["enhanced"] = tuple(patterns)
    if "text" in value:
        if not isinstance(value["text"], str):
            raise SpecError(f"{key}.text", "must be a regular expression string")
        try:
            fields["text"] = re.compile(value["text"], re.IGNORECASE)
        except re.error as exc:
            raise SpecError(f"{key}.text", f"bad regular expression: {exc}") from None
    for flag in ("refused", "closed", "silent", "tls"):
        if flag in value:
            if not isinstance(value[flag], bool):
                raise SpecError(f"{key}.{flag}", "must be true or false")
            fields[flag] = value[flag]
    for name in ("advertises", "not_advertises"):
        if name in value:
            fields[name] = tuple(s.upper() for s in _strings(f"{key}.{name}", value[name]))
    if "any_of" in value:
        options = value["any_of"]
        if not isinstance(options, list) or not options:
            raise SpecError(f"{key}.any_of", "must be a list of expectation tables")
        fields["any_of"] = tuple(parse_expectation(o, f"{key}.any_of") for o in options)
    if "describe" in value:
        if not isinstance(value["describe"], str) or not value["describe"].strip():
            raise SpecError(f"{key}.describe", "must be a non-empty string")
        fields["describe"] = value["describe"].strip()
    if set(value) == {"describe"}:
        raise SpecError(key, "says what to describe but expects nothing")
    return Expectation(**fields)  # type: ignore[arg-type]


def _strings(key: str, value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, str) and i for i in items):
        raise SpecError(key, f"must be a string or a list of strings, got {value!r}")
    return list(items)  # type: ignore[arg-type]


def _num(key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise SpecError(key, f"must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)
