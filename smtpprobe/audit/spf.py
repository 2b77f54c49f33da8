"""SPF record parsing and record-level lint (RFC 7208). Pure: no DNS here, see spfcheck."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
LOOKUP_MECHANISMS = ("include", "a", "mx", "ptr", "exists")  # §4.6.4, plus redirect
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9\-_.]*)=(.*)\Z", re.DOTALL)
_MACRO = re.compile(r"%(?:\{([slodiphcrtvSLODIPHCRTV])(\d*)(r?)([.\-+,/_=]*)\}|[%_-])", re.IGNORECASE)
_CIDR = re.compile(r"(?:/(\d+))?(?://(\d+))?\Z")


@dataclass
class Term:
    text: str
    name: str  # mechanism or modifier name, lower case
    qualifier: str = "+"
    value: str = ""  # domain-spec / network; "" when absent
    modifier: bool = False

    @property
    def has_macro(self) -> bool:
        return "%" in self.value


@dataclass
class SpfRecord:
    text: str
    terms: list[Term] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # syntax errors: each makes the record a permerror
    warnings: list[str] = field(default_factory=list)  # ignored terms and the like
    all: Term | None = None
    redirect: str | None = None
    exp: str | None = None
    unknown_modifiers: list[str] = field(default_factory=list)
    after_all: list[str] = field(default_factory=list)

    @property
    def lookup_terms(self) -> list[Term]:
        """Terms that cost a DNS query (§4.6.4): redirect counts only when it is used (no `all`)."""
        terms = [t for t in self.terms if not t.modifier and t.name in LOOKUP_MECHANISMS]
        if self.redirect is not None and self.all is None:
            terms.append(Term(f"redirect={self.redirect}", "redirect", value=self.redirect, modifier=True))
        return terms

    @property
    def includes(self) -> list[str]:
        return [t.value for t in self.terms if t.name == "include" and t.value and not t.has_macro]


def is_spf(text: str) -> bool:
    """§4.5: exactly `v=spf1` followed by a space or the end (case-insensitive)."""
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def macro_error(spec: str) -> str | None:
    """A malformed macro-string (§7.1), or None when fine."""
    rest = _MACRO.sub("", spec)
    if "%" in rest:
        return f"malformed macro in {spec!r}"
    return None


def domain_error(spec: str) -> str | None:
    """Checks a domain-spec; macros make the final name unknowable, so only their syntax is checked."""
    if not spec:
        return "empty domain"
    if "%" in spec:
        return macro_error(spec)
    if any(ord(c) < 33 or ord(c) > 126 for c in spec):
        return f"invalid character in domain {spec!r}"
    name = spec.rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or any(not 0 < len(label) < 64 for label in labels) or len(name) > 253:
        return f"not a valid domain name {spec!r}"
    return None


def _network_error(term: str, version: int, value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
        addr = value.split("/")[0]
        if ipaddress.ip_address(addr).version != version:
            raise ValueError
    except ValueError:
        hint = " (is `all` glued to it? put a space before it)" if value.lower().endswith("all") else ""
        return f"invalid ip{version} network in {term!r}{hint}"
    return None


def _parse_mechanism(text: str) -> tuple[Term, str | None]:
    qualifier = "+"
    body = text
    if body[0] in "+-~?":
        qualifier, body = body[0], body[1:]
    name, colon, value = body.partition(":")
    cidr = ""
    if not colon and "/" in name:
        name, cidr = name.split("/", 1)
        cidr = "/" + cidr
    name = name.lower()
    term = Term(text, name, qualifier, value)
    if name not in MECHANISMS:
        return term, f"unknown mechanism {text!r}"
    if name == "all":
        return term, (f"`all` takes no value: {text!r}" if colon or cidr else None)
    if name in ("ip4", "ip6"):
        if not value:
            return term, f"{name} needs a network: {text!r}"
        return term, _network_error(text, int(name[2]), value)
    if name in ("include", "exists"):
        if not colon:
            return term, f"{name} needs a domain: {text!r}"
        return term, domain_error(value)
    # a, mx, ptr: optional domain, then optional cidr (not for ptr)
    if colon and "/" in value and name != "ptr":
        value, cidr = value.split("/", 1)[0], "/" + value.split("/", 1)[1]
        term.value = value
    if cidr:
        m = _CIDR.match(cidr)
        if name == "ptr" or not m or int(m.group(1) or 0) > 32 or int(m.group(2) or 0) > 128:
            return term, f"invalid prefix length in {text!r}"
    if colon:
        return term, domain_error(value)
    return term, None


def parse_spf(text: str) -> SpfRecord:
    """Parses one SPF record. Never raises: problems land in `errors` and `warnings`."""
    record = SpfRecord(text)
    if not is_spf(text):
        record.errors.append(f"does not start with 'v=spf1 ': {text[:20]!r}")
        return record
    seen_modifiers: set[str] = set()
    for raw in text[6:].split(" "):
        if not raw:
            continue
        m = _MODIFIER.match(raw)
        if m and m.group(1).lower() not in MECHANISMS:
            name, value = m.group(1).lower(), m.group(2)
            term = Term(raw, name, value=value, modifier=True)
            record.terms.append(term)
            if name in ("redirect", "exp"):
                if name in seen_modifiers:
                    record.errors.append(f"more than one {name}= modifier")
                    continue
                seen_modifiers.add(name)
                problem = domain_error(value)
                if problem:
                    record.errors.append(f"{name}=: {problem}")
                setattr(record, name, value)
            else:
                record.unknown_modifiers.append(raw)
                if macro_error(value):
                    record.errors.append(f"malformed macro in modifier {raw!r}")
            continue
        term, problem = _parse_mechanism(raw)
        record.terms.append(term)
        if problem:
            record.errors.append(problem)
            continue
        if record.all is not None:
            record.after_all.append(raw)
        elif term.name == "all":
            record.all = term
    if record.after_all:
        record.warnings.append(f"terms after `all` are ignored: {' '.join(record.after_all)}")
    if record.redirect is not None and record.all is not None:
        record.warnings.append("redirect= is ignored because the record has `all`")
    return record
