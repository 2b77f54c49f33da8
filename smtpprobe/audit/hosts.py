"""The sending host and the domain's mail DNS: MX, PTR + FCrDNS of --ip, HELO, DNS blocklists,
MTA-STS and TLS-RPT records."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from typing import Any

from smtpprobe.audit import findings as F
from smtpprobe.audit.resolver import Lookup, Resolver, Status, fix_hint
from smtpprobe.audit.tags import parse_tags

DEFAULT_DNSBLS = ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org")


def _temp(lookup: Lookup, what: str) -> F.Finding:
    return F.error("host.temperror", f"{what}: {lookup.describe()}", fix_hint(lookup), "RFC 1035")


def addr_type(ip: str) -> str:
    return "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"


def reverse_labels(ip: str) -> str:
    """192.0.2.1 -> 1.2.0.192; IPv6 -> nibbles; without the in-addr/ip6 suffix (DNSBLs use the same)."""
    return ipaddress.ip_address(ip).reverse_pointer.rsplit(".", 2)[0]


async def check_mx(resolver: Resolver, domain: str) -> tuple[list[F.Finding], list[dict[str, Any]]]:
    lookup = await resolver.lookup(domain, "MX")
    if lookup.failed:
        return [_temp(lookup, f"MX of {domain}")], []
    if lookup.status == Status.NXDOMAIN:
        return [F.error("host.domain-nxdomain", f"{domain} does not exist (NXDOMAIN)",
                        "Mail from a non-existent domain is rejected; check the spelling.", "RFC 5321 §2.3.5")], []
    if lookup.void:
        return [F.warning("host.mx-none", f"{domain} has no MX record; bounces fall back to its A record",
                          "Publish an MX so the domain can receive replies and bounces.", "RFC 5321 §5.1")], []
    mx = sorted(lookup.records)
    if len(mx) == 1 and mx[0][1] in ("", "."):
        return [F.info("host.null-mx", f"{domain} publishes a null MX: it accepts no mail",
                       "Receivers may reject mail from a domain that accepts none.", "RFC 7505")], []
    hosts = [h for _, h in mx[:10]]
    addrs = await asyncio.gather(*(resolver.lookup(h, t) for h in hosts for t in ("A", "AAAA")))
    out, listing = [], []
    for i, (pref, host) in enumerate(mx[:10]):
        a, aaaa = addrs[2 * i], addrs[2 * i + 1]
        ips = list(a.records) + list(aaaa.records)
        listing.append({"preference": pref, "host": host, "addresses": ips})
        if a.failed or aaaa.failed:
            out.append(_temp(a if a.failed else aaaa, f"address of MX {host}"))
        elif not ips:
            out.append(F.warning("host.mx-no-address", f"MX {host} has no A/AAAA record",
                                 "Give the MX host an address or remove it.", "RFC 5321 §5.1"))
    out.insert(0, F.ok("host.mx", f"MX: {', '.join(f'{p} {h}' for p, h in mx[:10])}", "RFC 5321 §5.1"))
    return out, listing


async def check_ptr(resolver: Resolver, ip: str) -> tuple[list[F.Finding], dict[str, Any]]:
    rev = ipaddress.ip_address(ip).reverse_pointer
    lookup = await resolver.lookup(rev, "PTR")
    info: dict[str, Any] = {"ip": ip, "ptr": list(lookup.records), "fcrdns": False}
    if lookup.failed:
        return [_temp(lookup, f"PTR of {ip}")], info
    if not lookup.records:
        return [F.error("host.ptr-none", f"{ip} has no PTR record ({lookup.describe()})",
                        "Ask the IP's owner for a PTR naming your mail host (Gmail: 5.7.25).", "RFC 1912 §2.1")], info
    names = list(lookup.records)[:10]
    forward = await asyncio.gather(*(resolver.lookup(n, addr_type(ip)) for n in names))
    target = ipaddress.ip_address(ip)
    confirmed = [n for n, f in zip(names, forward) if any(ipaddress.ip_address(a) == target for a in f.records)]
    if confirmed:
        info["fcrdns"] = True
        return [F.ok("host.fcrdns", f"{ip} -> {confirmed[0]} -> {ip} (forward-confirmed)", "RFC 8601 §3")], info
    failed = [f for f in forward if f.failed]
    if failed:
        return [_temp(failed[0], f"address of {failed[0].name}")], info
    return [F.error("host.fcrdns-mismatch", f"PTR {', '.join(names)} of {ip} does not resolve back to {ip}",
                    f"Add an {addr_type(ip)} record {names[0]} -> {ip}, or fix the PTR.", "RFC 8601 §3")], info


async def check_helo(resolver: Resolver, helo: str, ip: str | None) -> list[F.Finding]:
    """`helo` is a domain name here (identity.helo_findings judges the other forms)."""
    kinds = [addr_type(ip)] if ip else ["A", "AAAA"]
    lookups = await asyncio.gather(*(resolver.lookup(helo, t) for t in kinds))
    if any(lk.failed for lk in lookups):
        return [_temp(next(lk for lk in lookups if lk.failed), f"address of HELO {helo}")]
    addrs = [a for lk in lookups for a in lk.records]
    if not addrs:
        return [F.warning("host.helo-no-address", f"HELO name {helo} does not resolve ({lookups[0].describe()})",
                          f"Publish an address record for {helo}.", "RFC 5321 §4.1.1.1")]
    if ip and not any(ipaddress.ip_address(a) == ipaddress.ip_address(ip) for a in addrs):
        return [F.warning("host.helo-mismatch", f"HELO {helo} resolves to {', '.join(addrs)}, not {ip}",
                          f"Point {helo} at {ip} or send a HELO name that does.", "RFC 5321 §4.1.1.1")]
    return [F.ok("host.helo", f"HELO {helo} resolves to {ip or ', '.join(addrs)}", "RFC 5321 §4.1.1.1")]


async def check_dnsbl(resolver: Resolver, ip: str, zones: list[str]) -> tuple[list[F.Finding], list[dict[str, Any]]]:
    rev = reverse_labels(ip)
    lookups = await asyncio.gather(*(resolver.lookup(f"{rev}.{z}", "A") for z in zones))
    listed = [lk for lk in lookups if lk.status == Status.OK]
    reasons = await asyncio.gather(*(resolver.lookup(lk.name, "TXT") for lk in listed))
    why = {lk.name: b" ".join(r.txt()).decode("utf-8", "replace") for lk, r in zip(listed, reasons)}
    out, rows = [], []
    for zone, lk in zip(zones, lookups):
        codes = list(lk.records)
        if lk.status == Status.OK and all(c.startswith("127.255.255.") for c in codes):
            state = "unknown"  # Spamhaus-style error codes: query refused, not a listing
        else:
            state = "listed" if lk.status == Status.OK else "unknown" if lk.failed else "not listed"
        rows.append({"zone": zone, "status": state, "codes": codes})
        if state == "listed":
            reason = F.printable(why.get(lk.name, ""), 100)
            out.append(F.error("host.dnsbl-listed", f"{ip} is listed on {zone} ({', '.join(codes)})"
                               + (f": {reason}" if reason else ""), f"Follow {zone}'s delisting procedure.",
                               "RFC 5782"))
        elif state == "unknown":
            out.append(F.info("host.dnsbl-unknown", f"{zone}: could not check ({lk.describe() if lk.failed else codes})",
                              "Retry, or query the list from a non-public resolver.", "RFC 5782"))
    if not any(r["status"] == "listed" for r in rows):
        clean = [r["zone"] for r in rows if r["status"] == "not listed"]
        if clean:
            out.insert(0, F.ok("host.dnsbl", f"{ip} is not listed on {', '.join(clean)}", "RFC 5782"))
    return out, rows


async def check_mta_sts(resolver: Resolver, domain: str) -> list[F.Finding]:
    sts, rpt = await asyncio.gather(resolver.lookup(f"_mta-sts.{domain}", "TXT"),
                                    resolver.lookup(f"_smtp._tls.{domain}", "TXT"))
    out: list[F.Finding] = []
    for lookup, version, fid, rfc in ((sts, "v=STSv1", "mta-sts", "RFC 8461 §3.1"),
                                      (rpt, "v=TLSRPTv1", "tls-rpt", "RFC 8460 §3")):
        if lookup.failed:
            out.append(_temp(lookup, lookup.name))
            continue
        texts = [t.decode("utf-8", "replace") for t in lookup.txt()]
        records = [t for t in texts if re.match(re.escape(version) + r"\s*(;|\Z)", t)]
        if not records:
            near = [t for t in texts if t.lower().startswith(version.lower())]
            if near:
                out.append(F.error(f"host.{fid}-invalid", f"{lookup.name}: {F.printable(near[0], 60)!r} must "
                                   f"start with exactly {version}", f"Write {version} (case-sensitive).", rfc))
            else:
                out.append(F.info(f"host.{fid}-none", f"no {version.split('=')[1]} record at {lookup.name}",
                                  f"Optional: publish {lookup.name} to {'enforce TLS' if fid == 'mta-sts' else 'get TLS reports'}.",
                                  rfc))
            continue
        if len(records) > 1:
            out.append(F.error(f"host.{fid}-multiple", f"{lookup.name} has {len(records)} records; receivers "
                               "ignore them all", "Keep exactly one.", rfc))
            continue
        tags = parse_tags(records[0])
        problem = _sts_problem(tags.tags) if fid == "mta-sts" else _rpt_problem(tags.tags)
        if tags.duplicates or tags.errors:
            problem = problem or f"malformed record: {', '.join(tags.errors + tags.duplicates)}"
        if problem:
            out.append(F.error(f"host.{fid}-invalid", f"{lookup.name}: {problem}", "Fix the record.", rfc))
        else:
            out.append(F.ok(f"host.{fid}", f"{lookup.name}: {F.printable(records[0], 80)}", rfc))
    return out


def _sts_problem(tags: dict[str, str]) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", tags.get("id", "")):
        return f"id={tags.get('id', '')!r} must be 1 to 32 letters or digits"
    return None


def _rpt_problem(tags: dict[str, str]) -> str | None:
    uris = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
    if not uris:
        return "rua= is required"
    bad = [u for u in uris if not re.match(r"(mailto:[^@\s]+@[^@\s]+|https://\S+)\Z", u)]
    return f"rua URI {bad[0]!r} is not mailto: or https:" if bad else None
