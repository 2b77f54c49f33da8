"""The TLS checks inside other commands, kept here so their modules change by a few lines:
`doctor` scans each port it reached (the receiver's TLS posture, beside its refusals); `audit` checks the
sender's domain's MTA-STS policy and its MXs' TLSA records (what authenticating senders of bounces and
replies to that domain will check)."""

from __future__ import annotations

from typing import Any

from smtpprobe.tlsscan.findings import Finding

RECORD_CHECKS = ("RFC 8461 §3.1", "RFC 8460 §3")


def doctor_items(probes: list[Any], host: str, timeout: float) -> list[Any]:
    """One doctor Item per failing or warning TLS finding on each reached port that speaks TLS."""
    from smtpprobe.doctor.verdict import Item
    from smtpprobe.errors import SmtpProbeError
    from smtpprobe.tlsscan.findings import assess
    from smtpprobe.tlsscan.probe import Endpoint
    from smtpprobe.tlsscan.scan import scan

    items = []
    for p in probes:
        if p.peer is None or not p.tls:
            continue
        role, port = p.plan.role, p.plan.port
        try:
            result = scan(Endpoint(p.peer, port, role != "smtps", timeout=min(timeout, 10)), host or None)
        except SmtpProbeError:
            continue  # the probe itself reported why TLS did not work
        for f in assess(result, role):
            if f.severity in ("fail", "warn"):
                items.append(
                    Item(
                        str(p.plan),
                        f"tls.{f.topic}",
                        f"{f.severity}: {f.text}",
                        ref=f.reference,
                        commands=[f"smtpprobe tls --server {host}:{port} --role {role}"],
                        ports=[port],
                    )
                )
    return items


async def audit_findings(resolver: Any, domain: str, mx_hosts: list[str], timeout: float) -> list[Any]:
    """MTA-STS policy (fetched, parsed, every MX covered) and DANE (TLSA validated?) for the domain.
    `resolver`: the audit's (cached; its lookups carry the AD bit). The policy is fetched, through
    mailauth.check_mta_sts, only when the domain publishes an MTA-STS record: most do not."""
    import asyncio

    from smtpprobe.audit import findings as F
    from smtpprobe.audit.lookup import Status

    out: list[Finding] = []
    sts = await resolver.lookup(f"_mta-sts.{domain}", "TXT")
    if any(t.startswith(b"v=STSv1") for t in sts.txt()):
        from smtpprobe.tlsscan.mailauth import check_mta_sts

        report = await asyncio.to_thread(check_mta_sts, domain, None, None, resolver.address, timeout, None)
        if report.applicable:  # the TXT records themselves are audit's own checks (host.mta-sts, host.tlsrpt)
            out += [f for f in report.findings if f.severity != "info" and f.reference not in RECORD_CHECKS]
        mx_hosts = report.details.get("mx_hosts") or mx_hosts
    answers = await asyncio.gather(*(resolver.lookup(f"_25._tcp.{mx}", "TLSA") for mx in mx_hosts[:10]))
    for mx, tlsa in zip(mx_hosts, answers, strict=False):
        if tlsa.records and not tlsa.secure:
            out.append(Finding("warn", "dane", f"TLSA at _25._tcp.{mx} is not DNSSEC-validated: senders ignore it",
                               "RFC 7672 §2.2"))
        elif tlsa.status == Status.SERVFAIL:
            out.append(Finding("fail", "dane", f"TLSA lookup at _25._tcp.{mx} fails (DNSSEC bogus?): DANE senders "
                               "defer mail to it", "RFC 7672 §2.1.1"))
    severity = {"fail": F.Severity.ERROR, "warn": F.Severity.WARNING}
    ids = {"mta-sts": "host.mta-sts-policy", "dane": "host.dane"}
    return [F.Finding(ids[f.topic], severity[f.severity], f.text, f"smtpprobe tls --server MX --dane --mta-sts {domain}",
                      f.reference) for f in out]
