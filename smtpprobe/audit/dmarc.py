"""DMARC record parsing and validation (RFC 9989, which obsoletes RFC 7489). Pure: no DNS here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from smtpprobe.audit.tags import parse_tags

R = "RFC 9989"
KNOWN = ("v", "p", "sp", "np", "adkim", "aspf", "fo", "psd", "t", "rua", "ruf")
REMOVED = ("pct", "rf", "ri")
POLICIES = ("none", "quarantine", "reject")
VALUES = {"p": POLICIES, "sp": POLICIES, "np": POLICIES, "adkim": ("r", "s"), "aspf": ("r", "s"),
          "psd": ("y", "n", "u"), "t": ("y", "n")}
_ADDR = re.compile(r"[^@\s]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\Z")


@dataclass
class Problem:
    id: str
    severity: str
    message: str
    fix: str
    rfc: str = R


@dataclass
class ReportUri:
    uri: str
    domain: str | None  # of a valid mailto:, else None
    error: str = ""


@dataclass
class DmarcRecord:
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    rua: list[ReportUri] = field(default_factory=list)
    ruf: list[ReportUri] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def policy(self, which: str = "p") -> str:
        """Effective p, sp or np, with inheritance (np <- sp <- p); `none` when unusable."""
        return self.policy_source(which)[0]

    def policy_source(self, which: str = "p") -> tuple[str, str]:
        """(policy, the tag it came from) for p, sp or np, with inheritance np <- sp <- p (RFC 9989 §4.7)."""
        chain = {"p": ["p"], "sp": ["sp", "p"], "np": ["np", "sp", "p"]}[which]
        for tag in chain:
            if self.tags.get(tag, "").lower() in POLICIES:
                return self.tags[tag].lower(), tag
        return "none", "p"


def is_dmarc(text: str) -> bool:
    """Exactly `v=DMARC1` first (case-sensitive), then `;`, space or end."""
    return bool(re.match(r"v=DMARC1\s*(;|\Z)", text))


def looks_like_dmarc(text: str) -> bool:
    """Meant as a DMARC record: starts with v=dmarc in any case or spacing, or has a v=DMARC1 tag elsewhere
    (which RFC 9989 §4.7 does not accept: v= must come first)."""
    return (text.strip().lower().startswith("v=dmarc")
            or bool(re.search(r"(?:\A|;)\s*v\s*=\s*dmarc1\s*(?:;|\Z)", text, re.IGNORECASE)))


def parse_uris(value: str) -> list[ReportUri]:
    out = []
    for raw in (u.strip() for u in value.split(",")):
        if not raw:
            continue
        uri = raw
        if "!" in uri:
            uri = uri.split("!", 1)[0]
        if not uri.lower().startswith("mailto:"):
            out.append(ReportUri(raw, None, "not a mailto: URI"))
            continue
        m = _ADDR.match(uri[7:])
        out.append(ReportUri(raw, m.group(1).lower(), "") if m else ReportUri(raw, None, "bad e-mail address"))
    return out


def parse_dmarc(text: str) -> DmarcRecord:
    """Never raises."""
    rec = DmarcRecord(text)
    add = rec.problems.append
    parsed = parse_tags(text)
    rec.tags = parsed.tags
    if not is_dmarc(text):
        add(Problem("dmarc.bad-version", "error", "the record must start with exactly v=DMARC1",
                    "Start it with v=DMARC1; (upper case, first)."))
    for bad in parsed.errors:
        add(Problem("dmarc.syntax", "error", f"malformed tag list: {bad}", "Write tags as name=value; name=value."))
    if parsed.duplicates:
        add(Problem("dmarc.duplicate-tag", "error", f"duplicate tag(s): {', '.join(parsed.duplicates)}",
                    "Keep each tag once."))
    for tag in parsed.order:
        if tag in REMOVED:
            add(Problem("dmarc.removed-tag", "info", f"{tag}= was removed by RFC 9989 and is ignored",
                        f"Remove {tag}= (use t=y instead of pct=0).", f"{R} App. A.6"))
        elif tag not in KNOWN:
            add(Problem("dmarc.unknown-tag", "warning", f"unknown tag {tag}= is ignored", "Remove it or fix its name."))
    for tag, allowed in VALUES.items():
        if tag in rec.tags and rec.tags[tag].lower() not in allowed:
            add(Problem("dmarc.bad-value", "error", f"{tag}={rec.tags[tag]!r} is not one of {'|'.join(allowed)}",
                        f"Set {tag}= to one of {', '.join(allowed)}."))
    if "fo" in rec.tags and not all(f.strip() in ("0", "1", "d", "s") for f in rec.tags["fo"].split(":")):
        add(Problem("dmarc.bad-value", "error", f"fo={rec.tags['fo']!r}: options are 0, 1, d, s",
                    "Use fo=0, 1, d or s, joined by ':'."))
    if "p" not in rec.tags:
        add(Problem("dmarc.no-policy", "warning", "no p= tag: treated as p=none", "Add p=quarantine or p=reject."))
    elif rec.policy() == "none" and rec.tags["p"].lower() == "none":
        add(Problem("dmarc.policy-none", "warning", "p=none: monitoring only, failing mail is not rejected",
                    "Move to p=quarantine, then p=reject, once reports are clean."))
    if rec.tags.get("sp", "").lower() == "none" and rec.policy() != "none":
        add(Problem("dmarc.subdomain-none", "info", "sp=none: subdomains are not protected", "Remove sp=none."))
    if rec.tags.get("t", "").lower() == "y":
        add(Problem("dmarc.testing", "warning", "t=y: testing mode; receivers apply a lesser policy",
                    "Remove t=y once reports are clean."))
    for tag in ("rua", "ruf"):
        uris = parse_uris(rec.tags.get(tag, ""))
        setattr(rec, tag, uris)
        for u in uris:
            if u.error:
                add(Problem("dmarc.bad-uri", "error", f"{tag}: {u.uri!r} is {u.error}",
                            "Use mailto:reports@example.com.", "RFC 9990 §3"))
            if "!" in u.uri:
                add(Problem("dmarc.uri-size", "info", f"{tag}: the !size suffix is obsolete", "Drop it.", "RFC 9990"))
        if len(uris) > 2:
            add(Problem("dmarc.many-uris", "warning", f"{tag} has {len(uris)} URIs; receivers may use only 2",
                        "Keep at most two."))
    if "rua" not in rec.tags:
        add(Problem("dmarc.no-rua", "warning", "no rua=: you get no aggregate reports",
                    "Add rua=mailto:dmarc-reports@<your domain>.", "RFC 9990 §3"))
    return rec
