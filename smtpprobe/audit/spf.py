"""SPF record parsing and record-level lint (RFC 7208). Pure: no DNS here, see spfcheck."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
LOOKUP_MECHANISMS = ("include", "a", "mx", "ptr", "exists")  # §4.6.4, plus redirect
# RFC 7208 §12 (collected ABNF), as regular expressions
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9\-_.]*)=(.*)\Z", re.DOTALL)
_MACRO_EXPAND = r"%(?:\{[slodiphcrtvSLODIPHCRTV]\d*[rR]?[.\-+,/_=]*\}|[%_-])"
_MACRO_LITERAL = r"[\x21-\x24\x26-\x7e]"
_MACRO_STRING = re.compile(rf"(?:{_MACRO_EXPAND}|{_MACRO_LITERAL})*\Z")
_TOPLABEL = r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN_END = rf"(?:\.{_TOPLABEL}\.?|{_MACRO_EXPAND})"
_DOMAIN_SPEC = re.compile(rf"(?:{_MACRO_EXPAND}|{_MACRO_LITERAL})*?{_DOMAIN_END}\Z")
_QNUM = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)"
_IP4 = re.compile(rf"{_QNUM}(?:\.{_QNUM}){{3}}\Z")
_IP4_CIDR = r"/(?:0|[1-9]\d?)"  # value range checked apart: 0-32
_IP6_CIDR = r"/(?:0|[1-9]\d{0,2})"  # 0-128
_DUAL_CIDR = re.compile(rf"({_IP4_CIDR})?(?:/({_IP6_CIDR}))?\Z")
_CRT = re.compile(r"(?<!%)(?:%%)*%\{[crtCRT]")  # macro letters allowed only in exp text (§7.3)
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
    if not _MACRO_STRING.match(spec):
        bad = next((c for c in spec if not (0x21 <= ord(c) <= 0x7E)), None)
        if bad is not None:
            return f"invalid character {bad!r} in {spec!r}"
        return f"malformed macro in {spec!r}"
    if _CRT.search(spec):
        return f"macro letters c, r, t are allowed only in exp text: {spec!r}"
    return None


def domain_error(spec: str) -> str | None:
    """Checks a domain-spec (§7.1): a macro-string ending in `.toplabel` or a macro. Macros make the final
    name unknowable, so only their syntax is checked."""
    if not spec:
        return "empty domain"
    problem = macro_error(spec)
    if problem:
        return problem
    if not _DOMAIN_SPEC.match(spec):
        return f"not a valid domain name {spec!r} (it must end in a top label with a letter, or a macro)"
    return None


def target_error(spec: str) -> str | None:
    """include: and redirect= need a usable name: a malformed one (empty or over-long label, one label) makes
    check_host() return none for it, which is a permerror for both (§5.2, §6.1). Checkable without macros."""
    problem = domain_error(spec)
    if problem:
        return problem
    if "%{" in spec:
        return None  # depends on the message: known only when evaluated
    spec = re.sub(r"%[%_-]", lambda m: {"%%": "%", "%_": " ", "%-": "%20"}[m.group(0)], spec)
    labels = spec[:-1].split(".") if spec.endswith(".") else spec.split(".")
    if (len(labels) < 2 or any(not 0 < len(label) < 64 or " " in label for label in labels)
            or len(spec.rstrip(".")) > 253):
        return f"not a valid domain name {spec!r} (empty, over-long or blank label)"
    return None


def _network_error(term: str, version: int, value: str) -> str | None:
    addr, slash, prefix = value.partition("/")
    limit = 32 if version == 4 else 128
    ok_prefix = not slash or (re.fullmatch(_IP4_CIDR if version == 4 else _IP6_CIDR, "/" + prefix)
                              and int(prefix) <= limit)
    try:
        ok_addr = bool(_IP4.match(addr)) if version == 4 else ipaddress.ip_address(addr).version == 6
    except ValueError:
        ok_addr = False
    if ok_addr and not ok_prefix:
        return f"invalid prefix length in {term!r} (0 to {limit}, no leading zero)"
    if not ok_addr:
        hint = " (is `all` glued to it? put a space before it)" if value.lower().endswith("all") else ""
        return f"invalid ip{version} network in {term!r}{hint}"
    return None


def _parse_mechanism(text: str) -> tuple[Term, str | None]:
    qualifier = "+"
    body = text
    if body[0] in "+-~?":
        qualifier, body = body[0], body[1:]
    m = re.match(r"[A-Za-z0-9]*", body)
    name = m.group(0).lower() if m else ""
    rest = body[len(name):]
    term = Term(text, name, qualifier)
    if name not in MECHANISMS or (rest and rest[0] not in ":/"):
        return term, f"unknown mechanism {text!r}"
    if name == "all":
        return term, (f"`all` takes no value: {text!r}" if rest else None)
    if name in ("ip4", "ip6"):
        if not rest.startswith(":") or len(rest) == 1:
            return term, f"{name} needs a network: {text!r}"
        term.value = rest[1:]
        return term, _network_error(text, int(name[2]), rest[1:])
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            return term, f"{name} needs a domain: {text!r}"
        term.value = rest[1:]
        return term, (target_error if name == "include" else domain_error)(rest[1:])
    # a, mx: [":" domain-spec] [dual-cidr-length]; ptr: [":" domain-spec]
    spec, cidr = (rest[1:], "") if rest.startswith(":") else ("", rest)
    if name != "ptr":
        # the cidr is the longest suffix that parses as one (a domain-spec may itself contain "/")
        m = re.search(rf"(?:{_IP4_CIDR})?(?://{_IP6_CIDR[1:]})?\Z", spec)
        if m and m.group(0):
            spec, cidr = spec[: m.start()], m.group(0)
    term.value = spec
    if cidr:
        m = _DUAL_CIDR.match(cidr)
        if (name == "ptr" or not m or int((m.group(1) or "/0")[1:]) > 32
                or int((m.group(2) or "/0")[1:]) > 128):
            return term, f"invalid prefix length in {text!r}"
    if rest.startswith(":"):
        return term, domain_error(spec)
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
                if name in seen_modifiers:
                    record.warnings.append(f"pyspf answers permerror: {name}= twice (RFC 7208 §6 ignores unknown "
                                           "modifiers; RFC 4408 §6 allowed each once)")
                seen_modifiers.add(name)
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
    if record.redirect is not None and record.all is None and not domain_error(record.redirect):
        problem = target_error(record.redirect)  # a redirect= in use must name a host (§6.1)
        if problem:
            record.errors.append(f"redirect=: {problem}")
    quirky = [t.text for t in record.terms if re.search(r"(?<!%)(%%)+\Z", t.value)]
    if quirky:
        record.warnings.append(f"pyspf answers permerror: ends in %% (valid by RFC 7208 §7.1): {' '.join(quirky)}")
    if record.after_all:
        record.warnings.append(f"terms after `all` are ignored: {' '.join(record.after_all)}")
    if record.redirect is not None and record.all is not None:
        record.warnings.append("redirect= is ignored because the record has `all`")
    return record
