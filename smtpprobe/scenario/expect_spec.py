"""The `expect` / `warn_if` tables of a step: validated into Expectations (no I/O)."""

from __future__ import annotations

from smtpprobe.scenario.errors import SpecError
from smtpprobe.scenario.expect import ENHANCED_PATTERN
from smtpprobe.scenario.model import Expectation

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
    "replies",
    "accepted_at_most",
    "same_as",
    "any_of",
    "describe",
}
MAX_REPLIES = 50


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
        patterns = strings(f"{key}.enhanced", value["enhanced"])
        if not patterns or any(not ENHANCED_PATTERN.fullmatch(p) for p in patterns):
            raise SpecError(
                f"{key}.enhanced", f'must be codes like "5.7.1" or "5.7.*", got {value["enhanced"]!r}'
            )
        fields["enhanced"] = tuple(patterns)
    if "text" in value:
        if not isinstance(value["text"], str):
            raise SpecError(f"{key}.text", "must be a regular expression string")
        from smtpprobe.scenario.regex import RegexError, compile_text

        try:
            fields["text"] = compile_text(value["text"])  # RE2: linear time whatever the reply
        except RegexError as exc:
            raise SpecError(f"{key}.text", f"bad regular expression: {exc}") from None
    for flag in ("refused", "closed", "silent", "tls"):
        if flag in value:
            if not isinstance(value[flag], bool):
                raise SpecError(f"{key}.{flag}", "must be true or false")
            fields[flag] = value[flag]
    for name in ("advertises", "not_advertises"):
        if name in value:
            fields[name] = tuple(s.upper() for s in strings(f"{key}.{name}", value[name]))
    if "replies" in value:
        count = value["replies"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPLIES:
            raise SpecError(
                f"{key}.replies", f"must be a number of replies from 0 to {MAX_REPLIES}, got {count!r}"
            )
        fields["replies"] = count
    if "accepted_at_most" in value:
        count = value["accepted_at_most"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPLIES:
            raise SpecError(
                f"{key}.accepted_at_most", f"must be a number from 0 to {MAX_REPLIES}, got {count!r}"
            )
        fields["accepted_at_most"] = count
    if "same_as" in value:
        if not isinstance(value["same_as"], str) or not value["same_as"]:
            raise SpecError(f"{key}.same_as", "must name an earlier step")
        fields["same_as"] = value["same_as"]
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


def strings(key: str, value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, str) and i for i in items):
        raise SpecError(key, f"must be a string or a list of strings, got {value!r}")
    return list(items)  # type: ignore[arg-type]
