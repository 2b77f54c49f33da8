"""One audit: validate input, run independent checks concurrently through one Resolver, collect."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from smtpprobe.audit import findings as F
from smtpprobe.audit import identity
from smtpprobe.audit.findings import BadInput
from smtpprobe.audit.identity import domain_name
from smtpprobe.audit.resolver import Resolver

_SELECTOR = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")


@dataclass
class Options:
    domain: str
    ip: str | None = None
    helo: str | None = None
    sender: str | None = None
    selectors: list[str] = field(default_factory=list)
    message: bytes | None = None
    resolver: str | None = None
    timeout: float = 5.0
    dnsbl: list[str] | None = None  # None: the default lists


@dataclass
class Report:
    domain: str
    findings: list[F.Finding] = field(default_factory=list)
    spf: dict[str, Any] = field(default_factory=dict)
    dkim: list[dict[str, Any]] = field(default_factory=list)
    dmarc: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    queries: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return any(f.severity == F.Severity.ERROR for f in self.findings)


def check_domain(text: str, what: str) -> str:
    """A DNS name of at least two labels, lower-cased, IDNA-encoded; else BadInput (exit 2)."""
    name = text.strip().rstrip(".").lower()
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadInput(f"{what}: not a valid domain name: {text!r}") from None
    labels = ascii_name.split(".")
    if (len(labels) < 2 or len(ascii_name) > 253
            or any(not re.fullmatch(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?", label) for label in labels)):
        raise BadInput(f"{what}: not a valid domain name: {text!r}")
    return ascii_name


def valid_domain(text: str) -> bool:
    try:
        check_domain(text, "")
    except BadInput:
        return False
    return True


def check_identity(text: str, what: str) -> str:
    """A HELO name or MAIL FROM address as the client would send it: anything printable is accepted (and
    judged by the checks); control characters or absurd lengths are bad input (exit 2)."""
    if len(text) > 1000 or any(not c.isprintable() for c in text):
        raise BadInput(f"{what}: control characters or over 1000 characters: {text[:60]!r}")
    return text.strip()


def validate(opts: Options) -> Options:
    opts.domain = check_domain(opts.domain, "DOMAIN")
    if opts.ip is not None:
        try:
            opts.ip = str(ipaddress.ip_address(opts.ip.strip()))
        except ValueError:
            raise BadInput(f"--ip: not an IP address: {opts.ip!r}") from None
    if opts.helo is not None:
        opts.helo = check_identity(opts.helo, "--helo")
        if not opts.helo:
            raise BadInput("--helo: empty")
    if opts.sender is not None:
        opts.sender = check_identity(opts.sender, "--sender").removeprefix("<").removesuffix(">")
        if opts.sender and "@" not in opts.sender:
            raise BadInput(f"--sender: expected local@domain, or '' for the null sender, got {opts.sender!r}")
    for sel in opts.selectors:
        if not _SELECTOR.match(sel):
            raise BadInput(f"--dkim-selector: not a valid selector: {sel!r}")
    if not 0 < opts.timeout <= 120:
        raise BadInput("--timeout: expected 0 < SECONDS <= 120")
    if opts.dnsbl is not None:
        opts.dnsbl = [check_domain(z, "--dnsbl") for z in opts.dnsbl]
    return opts


async def _audit(opts: Options, resolver: Resolver) -> Report:
    from smtpprobe.audit import dkimcheck, dmarccheck, hosts, spfcheck, spfeval

    report = Report(opts.domain)
    # cryptography takes ~11 ms to import; done by the first DKIM key parse on the event loop, it would delay
    # the SPF walk's next queries. Load it in a thread while the first answers are on their way.
    warm_up = asyncio.create_task(_warm_up())
    # The identities as sent: any string (identity.py judges their form); DNS checks only for real names.
    sender = f"postmaster@{opts.domain}" if opts.sender is None else opts.sender  # "": the null sender
    helo_name = domain_name(opts.helo) if opts.helo else None
    spf_sender_domain = sender.rpartition("@")[2] if sender else (opts.helo or opts.domain)
    sender_domain = domain_name(spf_sender_domain)
    v6 = bool(opts.ip and ":" in opts.ip)
    id_f = identity.sender_findings(opts.sender, opts.helo, opts.domain)

    async def spf_part() -> tuple[Any, list[F.Finding], list[Any]]:
        # Walk the trees first (concurrently, warming the cache), then let pyspf evaluate from cache.
        walks = [spfcheck.audit_spf(resolver, opts.domain, v6)]
        if sender_domain and sender_domain != opts.domain:
            walks.append(spfcheck.audit_spf(resolver, sender_domain, v6))
        if helo_name and opts.ip:
            walks.append(spfcheck.audit_spf(resolver, helo_name, v6))
        (root, found), *_ = await asyncio.gather(*walks)
        results = []
        if opts.ip:
            results.append(await asyncio.to_thread(spfeval.evaluate, resolver, opts.ip, sender,
                                                   opts.helo or opts.domain, "mfrom"))
            if opts.helo:
                results.append(await asyncio.to_thread(spfeval.evaluate, resolver, opts.ip, "", opts.helo,
                                                       "helo"))
        return root, found, results

    async def dmarc_part() -> tuple[Any, Any, list[F.Finding]]:
        w, sw = await asyncio.gather(dmarccheck.walk(resolver, opts.domain),
                                     dmarccheck.walk(resolver, sender_domain) if sender_domain
                                     else _no_walk(spf_sender_domain))
        return w, sw, dmarccheck.policy_findings(w) + await dmarccheck.report_authorization(resolver, w)

    async def host_part() -> list[F.Finding]:
        jobs: list[Any] = [hosts.check_mx(resolver, opts.domain), hosts.check_mta_sts(resolver, opts.domain)]
        if opts.ip:
            jobs += [hosts.check_ptr(resolver, opts.ip),
                     hosts.check_dnsbl(resolver, opts.ip, list(opts.dnsbl if opts.dnsbl is not None
                                                              else hosts.DEFAULT_DNSBLS))]
        if helo_name:
            jobs.append(hosts.check_helo(resolver, helo_name, opts.ip))
        results = await asyncio.gather(*jobs)
        (mx_f, mx), sts_f = results[0], results[1]
        out, report.host["mx"] = mx_f + sts_f, mx
        if opts.ip:
            (ptr_f, ptr), (bl_f, bl) = results[2], results[3]
            out += ptr_f + bl_f
            report.host.update(ptr=ptr, dnsbl=bl)
        if helo_name:
            out += results[-1]
        elif opts.helo:
            out += identity.helo_findings(opts.helo, opts.ip)
        from smtpprobe.tlsscan.hooks import audit_findings  # MTA-STS policy and DANE of the domain's MXs

        return out + await audit_findings(resolver, opts.domain, [m["host"] for m in mx], opts.timeout)

    async def message_part() -> tuple[list[dict[str, Any]], list[F.Finding]]:
        if opts.message is None:
            return [], []
        from smtpprobe.audit import dkimverify
        return await asyncio.to_thread(dkimverify.verify_message, resolver, opts.message)

    (root, spf_f, spf_results), (sels, dkim_f), (w, sw, dmarc_f), host_f, (sigs, sig_f) = await asyncio.gather(
        spf_part(), dkimcheck.audit_dkim(resolver, opts.domain, opts.selectors), dmarc_part(), host_part(),
        message_part())
    await warm_up
    spf_f += [_result_finding(r) for r in spf_results]
    if not opts.ip:
        spf_f.append(F.info("spf.not-evaluated", "pass --ip (and --sender, --helo) to evaluate SPF for a host",
                            "", "RFC 7208 §4"))
    mfrom = next((r for r in spf_results if r.identity == "mfrom"), None)
    passing_d = [s["domain"] for s in sigs if s["result"] == "pass" and s["domain"]]
    align_f, align = [], {}
    if opts.sender or opts.ip or sigs:  # alignment needs an envelope or a message to talk about
        align_f, align = dmarccheck.alignment(w, sw, sender_domain or spf_sender_domain, mfrom.result if mfrom else None, passing_d)
    report.findings = id_f + spf_f + dkim_f + sig_f + dmarc_f + align_f + host_f
    report.spf = {"record": root.record, "lookups": root.total(), "void_lookups": root.total_void(),
                  "result": mfrom.result if mfrom else None, "tree": root.to_json(),
                  "evaluations": [r.to_json() for r in spf_results]}
    report.dkim = [s.to_json() for s in sels]
    if sigs:
        report.host["dkim_signatures"] = sigs  # kept out of `dkim` (a list of selectors, per the schema)
    report.dmarc = {"record": w.record.text if w.record else None,
                    "found_at": f"_dmarc.{w.found_at}" if w.found_at else None,
                    "policy": w.policy(), "policy_tag": w.policy_tag() if w.record else None,
                    "queried": w.queried, "org_domain": w.org_domain(), "alignment": align}
    return report


async def _no_walk(name: str) -> Any:
    from smtpprobe.audit.dmarccheck import Walk

    return Walk(name)


async def _warm_up() -> None:
    if "cryptography.hazmat.primitives.serialization" not in sys.modules:  # once per process, not per domain
        await asyncio.to_thread(_load_key_parsers)


def _load_key_parsers() -> None:
    import cryptography.hazmat.primitives.asymmetric.rsa
    import cryptography.hazmat.primitives.serialization  # noqa: F401


def run_audit(opts: Options) -> Report:
    opts = validate(opts)
    resolver = Resolver(opts.resolver, opts.timeout)
    started = time.monotonic()
    report = asyncio.run(_audit_and_close(opts, resolver))
    finish(report, resolver, opts, started)
    return report


async def _audit_and_close(opts: Options, resolver: Resolver) -> Report:
    try:
        return await _audit(opts, resolver)
    finally:
        resolver.close()


def finish(report: Report, resolver: Resolver, opts: Options, started: float) -> None:
    """Stats, and one finding about the resolver instead of many about the domain when it answered nothing."""
    report.queries, report.seconds = resolver.queries, round(time.monotonic() - started, 3)
    problem = resolver_finding(resolver.answered(), opts.resolver)
    if problem is not None:
        report.findings = [problem]


def resolver_finding(lookups: list[Any], address: str | None) -> F.Finding | None:
    """When no query got an answer (not even NXDOMAIN) and the failures are the resolver's kind (timeouts,
    REFUSED, referrals, garbage), the findings would blame the domain for the resolver: one finding instead."""
    from collections import Counter

    from smtpprobe.audit.resolver import RESOLVER_FAILURES, Status, fix_hint

    if not lookups or any(not lk.failed and lk.status != Status.BADNAME for lk in lookups):
        return None
    kinds = Counter(lk.status for lk in lookups if lk.status in RESOLVER_FAILURES)
    if not kinds:
        return None  # SERVFAIL everywhere: the domain's servers may be at fault; per-lookup findings stay
    status, count = kinds.most_common(1)[0]
    example = next(lk for lk in lookups if lk.status == status)
    who = f"the resolver {address}" if address else "the system's resolver (/etc/resolv.conf)"
    what = {Status.TIMEOUT: "did not answer", Status.REFUSED: "refused", Status.REFERRAL: "answered with a "
            "referral (it is not recursive)", Status.MALFORMED: "answered with malformed data"}[status]
    return F.error(f"dns.resolver-{status.value}", f"{who} {what}: {count} of {len(lookups)} queries, none "
                   f"answered; nothing was learnt about the domain ({example.describe()})", fix_hint(example),
                   "RFC 1035 §4.1.1; RFC 1034 §5.3.1", queries=len(lookups))


def _result_finding(r: Any) -> F.Finding:
    sev = {"pass": F.Severity.OK, "softfail": F.Severity.WARNING, "neutral": F.Severity.WARNING}.get(
        r.result, F.Severity.ERROR)
    fid = "spf.result" if r.identity == "mfrom" else "spf.helo-result"
    fix = {"temperror": "Fix the DNS of the SPF tree; receivers answer 4xx meanwhile.",
           "permerror": "Fix the SPF record's errors listed above.",
           "none": "Publish an SPF record for this name."}.get(
        r.result, "" if sev == F.Severity.OK else "Add the sending IP to the SPF record (ip4:/ip6:/include:).")
    if r.identity == "helo" and r.result == "none":
        sev, fix = F.Severity.WARNING, 'Publish "v=spf1 a -all" at the HELO name (RFC 7208 §2.3).'

    why = F.printable(r.explanation, 100) or ("no SPF record at that name" if r.result == "none" else "")
    return F.Finding(fid, sev, f"SPF {r.identity} {r.sender}: {r.result}" + (f" ({why})" if why else ""),
                     fix, "RFC 7208 §2.6", {"lookups": r.lookups, "void_lookups": r.void_lookups})
