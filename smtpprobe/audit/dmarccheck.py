"""DMARC audit: RFC 9989 §4.10 DNS tree walk, record validation, report-destination authorization
(RFC 9990 §3.2.3) and identifier alignment."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from smtpprobe.audit import findings as F
from smtpprobe.audit.dmarc import DmarcRecord, is_dmarc, looks_like_dmarc, parse_dmarc
from smtpprobe.audit.psl import org_domain
from smtpprobe.audit.resolver import Resolver, Status, fix_hint

R = "RFC 9989"
MAX_QUERIES = 8


def walk_names(domain: str) -> list[str]:
    """The names the tree walk may query, in order (§4.10): the domain, then (for 8+ labels) its last
    7 labels, then one label less each step, down to the TLD. At most 8."""
    labels = domain.rstrip(".").split(".")
    names = [domain]
    n = len(labels)
    n = min(n - 1, 7)
    while n >= 1 and len(names) < MAX_QUERIES:
        names.append(".".join(labels[-n:]))
        n -= 1
    return names


@dataclass
class Walk:
    domain: str
    found_at: str | None = None  # the domain whose _dmarc held the record
    record: DmarcRecord | None = None
    queried: list[str] = field(default_factory=list)
    findings: list[F.Finding] = field(default_factory=list)
    domain_exists: bool = True

    def applies(self) -> str:
        """Which policy applies: p for the domain's own record, np when it does not exist, else sp (§4.8)."""
        return "p" if self.found_at == self.domain else ("np" if not self.domain_exists else "sp")

    def policy_tag(self) -> str:
        """The tag the policy really came from: sp or np fall back to p when absent (RFC 9989 §4.7)."""
        return self.record.policy_source(self.applies())[1] if self.record else self.applies()

    def policy(self) -> str | None:
        return self.record.policy(self.applies()) if self.record else None

    def org_domain(self) -> str:
        """The organizational domain, from the Public Suffix List."""
        return org_domain(self.domain)


async def walk(resolver: Resolver, domain: str) -> Walk:
    result = Walk(domain)
    names = walk_names(domain)
    # The walk is a chain, but its queries are independent: ask them all at once, read them in order.
    lookups = await asyncio.gather(*(resolver.lookup(f"_dmarc.{n}", "TXT") for n in names),
                                   resolver.lookup(domain, "SOA"))
    result.domain_exists = lookups[-1].status != Status.NXDOMAIN
    for name, lookup in zip(names, lookups[:-1]):
        result.queried.append(f"_dmarc.{name}")
        if lookup.failed:
            result.findings.append(F.error("dmarc.temperror", f"_dmarc.{name}: {lookup.describe()}",
                                           fix_hint(lookup), f"{R} §4.10"))
            return result
        texts = [t.decode("utf-8", "replace") for t in lookup.txt()]
        records = [t for t in texts if is_dmarc(t)]
        near = [t for t in texts if looks_like_dmarc(t) and not is_dmarc(t)]
        for t in near:
            result.findings.append(F.error("dmarc.bad-version", f"_dmarc.{name}: {F.printable(t, 60)!r} is not a "
                                           "DMARC record (v=DMARC1 is case-sensitive, first, no leading space)",
                                           "Start the record with exactly v=DMARC1;", f"{R} §4.7"))
        if len(records) > 1:
            result.findings.append(F.error("dmarc.multiple", f"_dmarc.{name} has {len(records)} DMARC records: "
                                           "receivers ignore them all", "Keep exactly one.", f"{R} §4.10"))
            continue
        if records:
            result.found_at, result.record = name, parse_dmarc(records[0])
            return result
    return result


def policy_findings(w: Walk) -> list[F.Finding]:
    out = list(w.findings)
    if w.record is None:
        if not any(f.severity == F.Severity.ERROR for f in out):
            out.append(F.error("dmarc.none", f"no DMARC record for {w.domain} (queried {', '.join(w.queried)})",
                               f'Publish TXT at _dmarc.{w.domain}: "v=DMARC1; p=quarantine; rua=mailto:…".',
                               f"{R} §4.10"))
        return out
    rec = w.record
    where = "its own" if w.found_at == w.domain else f"the one at _dmarc.{w.found_at}"
    policy, tag = rec.policy_source(w.applies())
    via = "" if tag == w.applies() else f", inherited: no {w.applies()}="
    org = w.org_domain()
    if w.found_at != w.domain and w.found_at != org and org.endswith("." + (w.found_at or "")):
        where += f", a public suffix's (PSD) record above the organizational domain {org}"
    out.append(F.ok("dmarc.record", f"{w.domain} uses {where} DMARC record; policy {policy} ({tag}{via})",
                    f"{R} §4.10", found_at=f"_dmarc.{w.found_at}", org_domain=org))
    for p in rec.problems:
        out.append(F.Finding(p.id, F.Severity(p.severity), p.message, p.fix, p.rfc))
    return out


def _external(dest: str, policy_domain: str) -> bool:
    return not (dest == policy_domain or dest.endswith("." + policy_domain) or policy_domain.endswith("." + dest))


async def report_authorization(resolver: Resolver, w: Walk) -> list[F.Finding]:
    """External destinations must publish <policy domain>._report._dmarc.<dest> (wildcards allowed)."""
    if w.record is None or w.found_at is None:
        return []
    dests = sorted({u.domain for u in w.record.rua + w.record.ruf if u.domain and _external(u.domain, w.found_at)})
    lookups = await asyncio.gather(*(resolver.lookup(f"{w.found_at}._report._dmarc.{d}", "TXT") for d in dests))
    out = []
    for dest, lookup in zip(dests, lookups):
        name = f"{w.found_at}._report._dmarc.{dest}"
        if lookup.failed:
            out.append(F.error("dmarc.temperror", f"{name}: {lookup.describe()}", "", "RFC 9990 §3.2.3"))
        elif any(t.startswith(b"v=DMARC1") for t in lookup.txt()):
            out.append(F.ok("dmarc.report-authorized", f"external report destination {dest} accepts reports",
                            "RFC 9990 §3.2.3"))
        else:
            out.append(F.warning("dmarc.report-unauthorized", f"external report destination {dest} has no "
                                 f"authorization record {name}; it gets no reports",
                                 f'Ask {dest} to publish TXT "v=DMARC1" at {name}.', "RFC 9990 §3.2.3"))
    return out


def aligned(a: str, b: str, mode: str, org_a: str, org_b: str) -> bool:
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return a == b if mode == "s" else org_a == org_b


def alignment(w: Walk, sender_walk: Walk, spf_domain: str, spf_result: str | None,
              dkim_domains: list[str]) -> tuple[list[F.Finding], dict[str, Any]]:
    """From = the audited domain; SPF identity = the --sender domain; DKIM = d= of passing signatures."""
    rec = w.record
    aspf = (rec.tags.get("aspf", "r") if rec else "r").lower()
    adkim = (rec.tags.get("adkim", "r") if rec else "r").lower()
    org_from = w.org_domain()
    spf_ok = aligned(w.domain, spf_domain, aspf, org_from, org_domain(spf_domain))
    mode = {"s": "strict", "r": "relaxed"}
    out = []
    info: dict[str, Any] = {"from": w.domain, "spf_domain": spf_domain, "aspf": aspf, "spf_aligned": spf_ok}
    if spf_ok:
        passing = spf_result in (None, "pass")
        out.append((F.ok if passing else F.warning)(
            "dmarc.spf-aligned", f"SPF domain {spf_domain} is aligned ({mode.get(aspf, aspf)}) with {w.domain}"
            + ("" if passing else f", but SPF gave {spf_result}"), **({} if passing else {
                "fix": "Make SPF pass for the sending IP.", "rfc": f"{R} §4.4"})))
    else:
        out.append(F.warning("dmarc.spf-unaligned", f"SPF domain {spf_domain} is not aligned "
                             f"({mode.get(aspf, aspf)}) with From domain {w.domain}",
                             "Use a MAIL FROM in the From domain, or rely on aligned DKIM.", f"{R} §4.4"))
    if dkim_domains:
        ok_domains = [d for d in dkim_domains if aligned(w.domain, d, adkim, org_from, org_domain(d))]
        info.update(adkim=adkim, dkim_domains=dkim_domains, dkim_aligned=bool(ok_domains))
        if ok_domains:
            out.append(F.ok("dmarc.dkim-aligned", f"DKIM d={ok_domains[0]} is aligned with {w.domain}", f"{R} §4.4"))
        else:
            out.append(F.warning("dmarc.dkim-unaligned", f"no passing DKIM signature aligned with {w.domain} "
                                 f"(d={', '.join(dkim_domains)})", f"Sign with d={w.domain}.", f"{R} §4.4"))
        if not spf_ok and not ok_domains:
            out.append(F.error("dmarc.unaligned", "neither SPF nor DKIM is aligned: DMARC fails",
                               "Align the MAIL FROM or the DKIM d= with the From domain.", f"{R} §4.4"))
    return out, info
