"""DKIM audit: fetch key records of the given selectors (or probe common ones concurrently)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from smtpprobe.audit import findings as F
from smtpprobe.audit.dkim import DkimKey, looks_like_dkim, parse_key_record
from smtpprobe.audit.resolver import Resolver, fix_hint

R = "RFC 6376"
# Widely used selectors (providers' defaults and common habits); probed when --dkim-selector is not given.
COMMON_SELECTORS = (
    "default", "dkim", "dkim1", "mail", "email", "smtp", "selector1", "selector2", "google", "k1", "k2",
    "k3", "s1", "s2", "key1", "key2", "sig1", "mx", "pm", "mandrill", "mxvault", "everlytickey1",
    "everlytickey2", "zendesk1", "zendesk2", "20230601", "20221208", "20210112", "20161025",
)


@dataclass
class SelectorResult:
    selector: str
    status: str  # ok | testing | revoked | invalid | missing | multiple | temperror
    record: str | None = None
    key: DkimKey | None = None
    findings: list[F.Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"selector": self.selector, "record": self.record, "status": self.status,
                "key_type": self.key.key_type if self.key else None,
                "key_bits": self.key.key_bits if self.key else None}


async def check_selector(resolver: Resolver, domain: str, selector: str, given: bool) -> SelectorResult:
    name = f"{selector}._domainkey.{domain}"
    lookup = await resolver.lookup(name, "TXT")
    res = SelectorResult(selector, "missing")
    if lookup.failed:
        res.status = "temperror"
        res.findings.append(F.error("dkim.temperror", f"selector {selector}: {lookup.describe()}",
                                    fix_hint(lookup), f"{R} §6.1.2"))
        return res
    records = [r.decode("utf-8", "replace") for r in lookup.txt()]
    keys = [r for r in records if looks_like_dkim(r)]
    if not keys:
        if given:
            res.findings.append(F.error("dkim.missing", f"selector {selector}: no key at {name} "
                                        f"({lookup.describe() if lookup.void else 'no DKIM TXT record'})",
                                        "Publish the selector's public key, or check the selector name.",
                                        f"{R} §3.6.2.1"))
        return res
    res.record = keys[0]
    if len(keys) > 1:
        res.status = "multiple"
        res.findings.append(F.error("dkim.multiple", f"selector {selector}: {len(keys)} key records; results "
                                    "are undefined", "Keep exactly one TXT record per selector.",
                                    f"{R} §3.6.2.2"))
    res.key = parse_key_record(keys[0])
    if res.status != "multiple":
        res.status = res.key.status
    for p in res.key.problems:
        res.findings.append(F.Finding(p.id, F.Severity(p.severity), f"selector {selector}: {p.message}", p.fix,
                                      p.rfc))
    if res.status in ("ok", "testing"):
        bits = f" {res.key.key_bits}-bit" if res.key.key_bits else ""
        res.findings.insert(0, F.ok("dkim.key", f"selector {selector}:{bits} {res.key.key_type} key", "RFC 8301"))
    return res


async def audit_dkim(resolver: Resolver, domain: str, selectors: list[str]) -> tuple[list[SelectorResult],
                                                                                     list[F.Finding]]:
    given = bool(selectors)
    names = selectors or list(COMMON_SELECTORS)
    results = await asyncio.gather(*(check_selector(resolver, domain, s, given) for s in names))
    if given:
        return list(results), [f for r in results for f in r.findings]
    found = [r for r in results if r.status not in ("missing", "temperror")]
    failed = [r for r in results if r.status == "temperror"]
    out = [f for r in found for f in r.findings]
    if failed:  # one line, not one per probed selector
        out.append(F.error("dkim.temperror", f"{len(failed)} of {len(names)} selector lookups failed "
                           f"({failed[0].findings[0].message})", failed[0].findings[0].fix,
                           f"{R} §6.1.2"))
    if found:
        out.insert(0, F.info("dkim.probed", f"probed {len(names)} common selectors; found: "
                             f"{', '.join(r.selector for r in found)}",
                             "Pass --dkim-selector for the selectors you sign with.", f"{R} §3.6.2.1"))
    elif not failed:
        out.insert(0, F.warning("dkim.not-found", f"none of {len(names)} common selectors has a key",
                                "Pass --dkim-selector SEL (from the s= of your DKIM-Signature).",
                                f"{R} §3.6.2.1"))
    return found, out
