"""Load and validate the knowledge data (TOML files in `smtpprobe/knowledge/data/`).

The data is read once, lazily, on first use (`load()`); tomllib and the regex compilation cost a few
milliseconds and nothing is imported at `import smtpprobe.knowledge` time.

Every file is validated as it loads: a malformed entry is a packaging bug, so `load()` raises
`KnowledgeError` naming the file and the entry rather than explaining with half the data.
docs/explain.md describes the format.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from smtpprobe.errors import SmtpProbeError, UsageError
from smtpprobe.knowledge.parse import parse

# Scenario ids of the built-in catalogue that knowledge entries may point to. Kept here rather than read from
# the catalogue so explain need not load it; tests/test_knowledge.py checks the two agree.
SCENARIOS = frozenset(
    {
        "missing-helo",
        "rcpt-before-mail",
        "data-before-rcpt",
        "ip-literal-helo",
        "empty-helo",
        "non-fqdn-helo",
        "invalid-helo",
        "unknown-command",
        "open-relay",
        "null-sender-accepted",
        "postmaster-accepted",
        "starttls-offered",
        "submission-requires-tls",
        "implicit-tls",
        "burst-concurrency",
        # the security probes (tag "attack")
        "smtp-smuggling",
        "starttls-injection",
        "starttls-argument",
        "starttls-not-offered-after-tls",
        "early-talker",
        "pipelining-abuse",
        "bare-lf-command",
        "bare-cr-command",
        "nul-in-command",
        "line-length",
        "command-arguments",
        "vrfy-disclosure",
        "expn-disclosure",
        "too-many-recipients",
        "auth-before-tls",
        "auth-failure",
        # TLS posture (tag "tls", scenarios/55-tls-posture.toml)
        "tls-versions",
        "tls-ciphers",
        "tls-features",
        "tls-certificate",
        "dane",
        "mta-sts",
    }
)
# smtpprobe subcommands a knowledge entry may suggest.
COMMANDS = frozenset({"send", "run", "audit", "burst", "doctor", "repl", "explain", "lab", "tls"})
# Whose move it is: the sender's setup, the receiver's policy/condition, or either.
SIDES = frozenset({"sender", "receiver", "either"})

ENHANCED_RE = re.compile(r"^[245]\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$")
GENERIC_ENHANCED_RE = re.compile(r"^X\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


class KnowledgeError(SmtpProbeError):
    """The shipped knowledge data is malformed (a bug in a data file, not in the user's input)."""


@dataclass(frozen=True)
class Advice:
    """What to look at: shared by basic codes, enhanced codes and server entries."""

    causes: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BasicCode:
    code: int
    meaning: str
    short: str
    rfc: str
    advice: Advice = Advice()


@dataclass(frozen=True)
class EnhancedCode:
    """A registry entry ("X.7.26") or a vendor code ("5.7.515", standard=False)."""

    key: str
    meaning: str
    rfc: str
    standard: bool = True
    provider: str = ""
    basic: tuple[int, ...] = ()
    advice: Advice = Advice()


@dataclass(frozen=True)
class ServerEntry:
    id: str
    server: str
    title: str
    short: str
    pattern: re.Pattern[str]
    meaning: str
    side: str
    source: str
    codes: tuple[int, ...] = ()
    enhanced: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    advice: Advice = Advice()
    file: str = ""


@dataclass(frozen=True)
class Knowledge:
    first_digit: dict[str, str]
    second_digit: dict[str, str]
    basic: dict[int, BasicCode]
    classes: dict[str, str]
    subjects: dict[str, str]
    enhanced: dict[str, EnhancedCode]  # "X.7.26"
    vendor: dict[str, EnhancedCode]  # "5.7.515" (class-specific)
    entries: tuple[ServerEntry, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- loading


def _read(name: str) -> dict[str, Any]:
    import tomllib

    try:
        text = resources.files("smtpprobe.knowledge.data").joinpath(name).read_text(encoding="utf-8")
        return tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KnowledgeError(f"knowledge/data/{name}: {exc}") from exc


def _server_files() -> list[str]:
    root = resources.files("smtpprobe.knowledge.data")
    return sorted(
        p.name for p in root.iterdir() if p.name.startswith("servers-") and p.name.endswith(".toml")
    )


@functools.cache
def load() -> Knowledge:
    """The whole knowledge base, loaded and validated once per process."""
    basic_doc = _read("basic.toml")
    enh_doc = _read("enhanced.toml")
    basic = {int(k): _basic(k, v) for k, v in _table(basic_doc, "codes", "basic.toml").items()}
    enhanced = {
        k: _enhanced(k, v, True, "enhanced.toml")
        for k, v in _table(enh_doc, "details", "enhanced.toml").items()
    }
    vendor = {k: _enhanced(k, v, False, "enhanced.toml") for k, v in enh_doc.get("vendor", {}).items()}
    entries: list[ServerEntry] = []
    seen: dict[str, str] = {}
    for name in _server_files():
        doc = _read(name)
        for i, raw in enumerate(doc.get("entry", [])):
            entry = _entry(raw, f"{name} entry #{i + 1}", name)
            if entry.id in seen:
                raise KnowledgeError(f"{name}: duplicate id {entry.id!r} (also in {seen[entry.id]})")
            seen[entry.id] = name
            entries.append(entry)
    kb = Knowledge(
        first_digit=_strings(basic_doc, "first_digit", "basic.toml"),
        second_digit=_strings(basic_doc, "second_digit", "basic.toml"),
        basic=basic,
        classes=_strings(enh_doc, "classes", "enhanced.toml"),
        subjects=_strings(enh_doc, "subjects", "enhanced.toml"),
        enhanced=enhanced,
        vendor=vendor,
        entries=tuple(entries),
    )
    _cross_check(kb)
    return kb


def _table(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict) or not value:
        raise KnowledgeError(f"{where}: missing table [{key}]")
    return value


def _strings(doc: dict[str, Any], key: str, where: str) -> dict[str, str]:
    table = _table(doc, key, where)
    for k, v in table.items():
        if not isinstance(v, str) or not v:
            raise KnowledgeError(f"{where}: [{key}] {k!r} must be a non-empty string")
    return dict(table)


def _str(raw: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise KnowledgeError(f"{where}: field {key!r} is required and must be a non-empty string")
    return value.strip()


def _strlist(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        raise KnowledgeError(f"{where}: field {key!r} must be a list of non-empty strings")
    return tuple(s.strip() for s in value)


def _advice(raw: dict[str, Any], where: str) -> Advice:
    commands = _strlist(raw, "commands", where)
    for cmd in commands:
        words = cmd.split()
        if len(words) < 2 or words[0] != "smtpprobe" or words[1] not in COMMANDS:
            raise KnowledgeError(f"{where}: command {cmd!r} must start with 'smtpprobe <subcommand>'")
        for i, word in enumerate(words[:-1]):
            if word == "--only" and words[i + 1] not in SCENARIOS:
                raise KnowledgeError(f"{where}: command {cmd!r} names unknown scenario {words[i + 1]!r}")
    return Advice(
        causes=_strlist(raw, "causes", where),
        checks=_strlist(raw, "checks", where),
        commands=commands,
        notes=_strlist(raw, "notes", where),
    )


def _code(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 200 <= value <= 599:
        raise KnowledgeError(f"{where}: {value!r} is not a three-digit reply code 2xx-5xx")
    return value


def _basic(key: str, raw: dict[str, Any]) -> BasicCode:
    where = f"basic.toml [codes.{key}]"
    if not re.fullmatch(r"[2-5][0-5]\d", key):
        raise KnowledgeError(f"{where}: key must be a standard code (first digit 2-5, second 0-5)")
    return BasicCode(
        code=int(key),
        meaning=_str(raw, "meaning", where),
        short=_str(raw, "short", where),
        rfc=_str(raw, "rfc", where),
        advice=_advice(raw, where),
    )


def _enhanced(key: str, raw: dict[str, Any], standard: bool, file: str) -> EnhancedCode:
    where = f"{file} [{'details' if standard else 'vendor'}.{key}]"
    if not (GENERIC_ENHANCED_RE if standard else ENHANCED_RE).match(key):
        form = "X.subject.detail" if standard else "class.subject.detail with class 2, 4 or 5"
        raise KnowledgeError(f"{where}: key must look like {form}")
    basic = tuple(_code(c, where) for c in raw.get("basic", []))
    return EnhancedCode(
        key=key,
        meaning=_str(raw, "meaning", where),
        rfc=_str(raw, "rfc", where, required=standard),
        standard=standard,
        provider=_str(raw, "provider", where, required=not standard),
        basic=basic,
        advice=_advice(raw, where),
    )


def _entry(raw: dict[str, Any], where: str, file: str) -> ServerEntry:
    known = {
        "id", "server", "title", "short", "pattern", "meaning", "side", "source", "codes", "enhanced",
        "examples", "scenarios", "causes", "checks", "commands", "notes",
    }  # fmt: skip
    unknown = set(raw) - known
    if unknown:
        raise KnowledgeError(f"{where}: unknown field(s) {sorted(unknown)}")
    entry_id = _str(raw, "id", where)
    where = f"{file} [{entry_id}]"
    if not ID_RE.match(entry_id):
        raise KnowledgeError(f"{where}: id must be lower-case letters, digits, '.' and '-'")
    try:
        pattern = re.compile(_str(raw, "pattern", where), re.IGNORECASE)
    except re.error as exc:
        raise KnowledgeError(f"{where}: bad pattern: {exc}") from exc
    side = _str(raw, "side", where)
    if side not in SIDES:
        raise KnowledgeError(f"{where}: side must be one of {sorted(SIDES)}")
    enhanced = _strlist(raw, "enhanced", where)
    for e in enhanced:
        if not ENHANCED_RE.match(e):
            raise KnowledgeError(f"{where}: enhanced code {e!r} is not class.subject.detail")
    scenarios = _strlist(raw, "scenarios", where)
    for s in scenarios:
        if s not in SCENARIOS:
            raise KnowledgeError(f"{where}: unknown scenario {s!r}")
    examples = _strlist(raw, "examples", where)
    if not examples:
        raise KnowledgeError(f"{where}: at least one example (a real reply with this text) is required")
    codes = tuple(_code(c, where) for c in raw.get("codes", []))
    for ex in examples:
        try:
            parsed = parse(ex)
        except UsageError as exc:
            raise KnowledgeError(f"{where}: example {ex!r} has no reply code: {exc}") from exc
        if not pattern.search(parsed.text):
            raise KnowledgeError(f"{where}: example {ex!r} does not match the pattern")
        if codes and parsed.code not in codes:
            raise KnowledgeError(f"{where}: example {ex!r} has code {parsed.code}, not one of {list(codes)}")
    return ServerEntry(
        id=entry_id,
        server=_str(raw, "server", where),
        title=_str(raw, "title", where),
        short=_str(raw, "short", where),
        pattern=pattern,
        meaning=_str(raw, "meaning", where),
        side=side,
        source=_str(raw, "source", where),
        codes=codes,
        enhanced=enhanced,
        examples=examples,
        scenarios=scenarios,
        advice=_advice(raw, where),
        file=file,
    )


def _cross_check(kb: Knowledge) -> None:
    for digit in "2345":
        if digit not in kb.first_digit:
            raise KnowledgeError(f"basic.toml: first digit {digit} is not described")
    for digit in "245":
        if digit not in kb.classes:
            raise KnowledgeError(f"enhanced.toml: class {digit} is not described")
    for digit in "012345":
        if digit not in kb.second_digit:
            raise KnowledgeError(f"basic.toml: second digit {digit} is not described")
    for key in kb.enhanced:
        subject = key.split(".")[1]
        if subject not in kb.subjects:
            raise KnowledgeError(f"enhanced.toml: {key} has no subject {subject} in [subjects]")
