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
from smtpprobe.scenario.expect_spec import strings as _strings
from smtpprobe.scenario.gates import WHAT as _GATES
from smtpprobe.scenario.lines import Locator
from smtpprobe.scenario.model import BASES, ID, PORT_ROLES, Scenario, Step
from smtpprobe.scenario.step_spec import MAX_STEPS, parse_steps
from smtpprobe.scenario.steps import templates

MAX_FILE_BYTES = 2_000_000
MAX_CASES = 500
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
    "judge_gates",
    "vars",
    "cases",
    "variants",
    "step",
}
FOREIGN = {"foreign_rcpt", "foreign_user", "foreign_domain"}
GATE_KINDS = tuple(_GATES)


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
        elif path.exists():
            raise ScenarioError(str(path), "not a regular file (a FIFO or a device?); give a file or a folder")
        else:
            raise ScenarioError(str(path), "no such file or folder")
    return files


def load_file(path: str | Path) -> list[Scenario]:
    path = Path(path)
    name = str(path)
    from smtpprobe import inputfile, validate
    from smtpprobe.errors import UsageError

    try:  # a regular file (not a FIFO or a device), bounded
        raw = inputfile.read_file(name, "scenario file", MAX_FILE_BYTES)
    except UsageError as exc:
        raise ScenarioError(name, str(exc).removeprefix(f"scenario file {name}: ")) from None
    try:
        text = raw.decode("utf-8")
        validate.toml_depth(text, "scenario file")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ScenarioError(name, f"not UTF-8 text (byte {exc.start})") from None
    except UsageError as exc:
        raise ScenarioError(name, str(exc).removeprefix("scenario file: ")) from None
    except RecursionError:
        raise ScenarioError(name, "not valid TOML: nested too deeply") from None
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
        judge_gates = _strings("judge_gates", entry.get("judge_gates", []))
        if any(g not in GATE_KINDS for g in judge_gates):
            raise SpecError(
                "judge_gates",
                f"must list gate kinds from {', '.join(GATE_KINDS)}, got {entry['judge_gates']!r}",
            )
    except SpecError as exc:
        raise fail(exc.key, str(exc)) from None
    own_vars = {
        **file_vars,
        **_vars(entry.get("vars", {}), "vars", name, sid, locate.key_line(index, "vars")),
    }
    cases = _cases(entry.get("cases"), own_vars, fail)
    if "variants" in entry:
        variants = _cases(entry["variants"], own_vars, fail, key="variants", empty_id=True)
        cases = [
            (f"{cid}-{vid}" if cid and vid else cid or vid, {**cvars, **vvars})
            for cid, cvars in cases or [("", {})]
            for vid, vvars in variants
        ]
        if any(not cid for cid, _ in cases):
            raise fail("variants", "a variant needs an id when the scenario has no cases")
    raw_steps = entry["step"]
    if not isinstance(raw_steps, list) or not raw_steps or not all(isinstance(s, dict) for s in raw_steps):
        raise fail("step", "needs at least one [[scenario.step]] table")
    if len(raw_steps) > MAX_STEPS:
        raise fail("step", f"more than {MAX_STEPS} steps")
    steps = parse_steps(raw_steps, fail, locate, index)
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
        "judge_gates": tuple(judge_gates),
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


def _cases(
    value: object, own_vars: dict[str, str], fail, key: str = "cases", empty_id: bool = False
) -> list[tuple[str, dict[str, str]]]:
    """`cases` (one result each), or `variants` (crossed with every case; a variant with id "" keeps the
    case's id as it is)."""
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_CASES
        or not all(isinstance(c, dict) for c in value)
    ):
        raise fail(key, f"must be a list of 1 to {MAX_CASES} tables, each with an id and variables")
    cases, seen = [], set()
    for number, case in enumerate(value, 1):
        case_id = case.get("id")
        if not isinstance(case_id, str) or not (ID.fullmatch(case_id) or (empty_id and case_id == "")):
            raise fail(
                f"{key}[{number}].id",
                f"each {key[:-1]} needs an id: lower-case letters, digits, '.', '_', '-'",
            )
        if case_id in seen:
            raise fail(f"{key}[{number}].id", f"duplicate {key[:-1]} id {case_id!r}")
        seen.add(case_id)
        case_vars = {k: v for k, v in case.items() if k != "id"}
        for var, text in case_vars.items():
            if not variables.NAME.fullmatch(var) or var in variables.BUILTIN or not isinstance(text, str):
                raise fail(
                    f"{key}[{number}].{var}",
                    f"{key[:-1]} variables need a lower-case name (not a built-in) and a string value",
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
