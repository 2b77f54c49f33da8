"""The SPF project's test suites (rfc7208-tests.yml, rfc4408-tests.yml; vendored from the pyspf 2.0.14 sdist,
BSD licence, see tests/zones/spf-suite/*.LICENSE) turned into one root zone per suite for a real NSD.

Every scenario of a suite reuses example.com, example.net, ..., so each scenario's names get their top-level
label replaced by one of the same length that encodes the scenario (example.com -> example.c05 in scenario 5).
Every label equal to com/net/org is renamed, not only the last (a macro
expansion can put a whole name inside another). Same length and same label count, so macro transformers (%{d2}), the 253-octet truncation and the 63-octet
label limit behave as in the suite. Reverse-DNS names (in-addr.arpa, ip6.arpa) cannot be renamed (they come
from the client IP): their PTR records are merged across scenarios, so scenarios that
give one reverse name different records are served by different NSD instances (4 for the 31 scenarios).

The suite marks some names `TIMEOUT`. NSD never stays silent on purpose; these names become zones of their
own whose primary does not exist, so NSD answers SERVFAIL for them: the same temperror for SPF (RFC 7208 §4.4
treats both as a DNS error), from a real server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUITE_DIR = Path(__file__).parent.parent / "zones" / "spf-suite"
SUITES = ("rfc7208", "rfc4408")
_TLDS = ("com", "net", "org", "xn--zckzah")
# every label equal to one of these, not only the last: macro expansions put whole names inside names
# (%{d}.d.spf.example.com -> example.com.d.spf.example.com)
_TLD_RE = re.compile(
    r"(?<=\.)(" + "|".join(re.escape(t) for t in _TLDS) + r")(?=\.|\Z|[^A-Za-z0-9-])", re.IGNORECASE
)


@dataclass
class Case:
    suite: str  # rfc7208 or rfc4408
    scenario: int
    id: str
    spec: str
    helo: str
    host: str
    mailfrom: str
    results: list[str]
    explanation: str | None
    code: str  # the scenario's renaming code
    group: str = ""  # the NSD instance (Suite.name) serving it

    def rename(self, text: str) -> str:
        return rename(text, self.code)

    def unrename(self, text: str) -> str:
        return unrename(text, self.code)


@dataclass
class Suite:
    """One group of scenarios served by one NSD."""

    name: str
    zone: str  # the root zone's text
    servfail_names: list[str] = field(default_factory=list)
    emptied_timeouts: list[str] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)


def _code(index: int) -> str:
    return f"{index:02d}"


def rename(text: str, code: str) -> str:
    def sub(m: re.Match[str]) -> str:
        tld = m.group(1)
        new = tld[: len(tld) - 2] + code
        return new.upper() if tld.isupper() else new

    return _TLD_RE.sub(sub, text)


def unrename(text: str, code: str) -> str:
    for tld in _TLDS:
        new = tld[: len(tld) - 2] + code
        text = re.sub(
            r"(?<=\.)" + re.escape(new) + r"(?=\.|\Z|[^A-Za-z0-9-])",
            lambda m, t=tld: t.upper() if m.group(0).isupper() and m.group(0).isalpha() else t,
            text,
            flags=re.IGNORECASE,
        )
    return text


def _escape_name(name: str) -> str:
    """A zone-file owner name: bytes outside [A-Za-z0-9-_*.] as \\DDD, absolute."""
    raw = name.encode("utf-8")
    out = "".join(chr(b) if (chr(b).isalnum() and b < 128) or chr(b) in "-_*." else f"\\{b:03d}" for b in raw)
    return out if out.endswith(".") else out + "."


def _escape_txt(s: str) -> list[str]:
    raw = s.encode("utf-8")
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return [
        '"' + "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:03d}" for b in c) + '"'
        for c in chunks
    ]


def _valid_owner(name: str) -> bool:
    labels = name.rstrip(".").encode("utf-8").split(b".")
    return all(0 < len(label) < 64 for label in labels) and len(name.rstrip(".")) <= 253


def _records(name: str, entries: list[Any]) -> tuple[list[tuple[str, Any]], bool]:
    """pyspf's testspf.getrdata: SPF entries are copied to TXT unless the name lists TXT itself;
    `TXT: NONE` means no TXT. Returns (records, times_out)."""
    recs: list[tuple[str, Any]] = []
    has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
    timeout = False
    for e in entries:
        if e == "TIMEOUT":
            timeout = True
            continue
        for rtype, value in e.items():
            if rtype in ("TXT", "SPF") and isinstance(value, str):
                value = [value]
            if value == ["NONE"]:
                continue
            recs.append((rtype, value))
            if rtype == "SPF" and not has_txt:
                recs.append(("TXT", value))
    # testspf.py: a name whose TXT query reaches TIMEOUT before any TXT answer times out
    times_out = timeout and not any(t == "TXT" for t, _ in recs)
    return recs, times_out


def _rr(owner: str, rtype: str, value: Any, code: str) -> str | None:
    if rtype in ("TXT", "SPF"):
        strings = [s for v in value for s in _escape_txt(rename(v, code))] or [
            '""'
        ]  # `[ ]`: one empty string
        return f"{owner} {rtype} {' '.join(strings)}"
    if rtype == "MX":
        pref, host = value
        host = rename(str(host), code)
        return f"{owner} MX {int(pref)} {_escape_name(host) if host.strip('.') else '.'}"
    if rtype in ("CNAME", "PTR"):
        return f"{owner} {rtype} {_escape_name(rename(str(value), code))}"
    if rtype in ("A", "AAAA"):
        return f"{owner} {rtype} {value}"
    return None


@dataclass
class _Scenario:
    suite: str
    index: int
    code: str
    data: dict[str, Any]

    @property
    def fixed_owners(self) -> dict[str, str]:
        """Names the renaming cannot touch (reverse DNS) with their records, as renamed."""
        return {
            o.lower().rstrip("."): rename(repr(r), self.code).lower()
            for o, r in (self.data.get("zonedata") or {}).items()
            if rename(o, self.code) == o
        }


def _scenarios() -> list[_Scenario]:
    import yaml

    out = []
    for name in SUITES:
        for index, data in enumerate(yaml.safe_load_all((SUITE_DIR / f"{name}-tests.yml").read_bytes())):
            out.append(_Scenario(name, index, _code(len(out)), data))
    return out


def load_groups() -> list[Suite]:
    """All scenarios of both suites, in as few zones as possible: scenarios that give the same reverse-DNS name
    different records go to different groups (one NSD each)."""
    groups: list[list[_Scenario]] = []
    for sc in _scenarios():
        for group in groups:
            mine = sc.fixed_owners
            if all(mine.get(o, r) == r for other in group for o, r in other.fixed_owners.items()):
                group.append(sc)
                break
        else:
            groups.append([sc])
    return [_zone(f"group{i}", g) for i, g in enumerate(groups)]


def _zone(name: str, scenarios: list[_Scenario]) -> Suite:
    lines = ["$TTL 60", ". SOA ns. hostmaster. 1 3600 600 86400 60", ". NS ns.", "ns. A 127.0.0.1"]
    suite = Suite(name, "")
    seen: set[str] = set()
    for sc in scenarios:
        code = sc.code
        zonedata = sc.data.get("zonedata") or {}
        owners = {rename(o, code).lower().rstrip(".") for o in zonedata}
        for owner, entries in zonedata.items():
            renamed = rename(owner, code)
            recs, times_out = _records(renamed, entries)
            if not _valid_owner(renamed):
                continue  # cannot exist in the DNS (a label over 63 octets): NXDOMAIN, as for the suite
            key = renamed.lower().rstrip(".")
            if times_out and any(o.endswith("." + key) for o in owners):
                # A zone that fails would take its subdomains down with it (the suite's stub fails only the
                # name itself): the name is left empty instead (NODATA). See the suite's exceptions list.
                suite.emptied_timeouts.append(key)
                continue
            if times_out:
                suite.servfail_names.append(key)
                continue
            for rtype, value in recs:
                rr = _rr(_escape_name(renamed), rtype, value, code)
                if rr and rr.lower() not in seen:
                    seen.add(rr.lower())
                    lines.append(rr)
        for tid, t in sc.data["tests"].items():
            result = t["result"]
            suite.cases.append(
                Case(
                    sc.suite,
                    sc.index,
                    tid,
                    str(t.get("spec", "")),
                    str(t.get("helo", "")),
                    str(t.get("host", "")),
                    str(t.get("mailfrom", "")),
                    result if isinstance(result, list) else [result],
                    t.get("explanation"),
                    code,
                    name,
                )
            )
    suite.zone = "\n".join(lines) + "\n"
    return suite
