"""What authenticating senders check before they deliver: DANE (RFC 7672) and MTA-STS (RFC 8461), each
as findings beside the scan, with what a sending MTA then does."""

from __future__ import annotations

from dataclasses import dataclass, field

from smtpprobe.tls import name_matches, printable
from smtpprobe.tlsscan import dane, dnsq, mtasts
from smtpprobe.tlsscan.findings import Finding
from smtpprobe.tlsscan.scan import ScanResult


@dataclass
class AuthReport:
    topic: str  # dane, mta-sts
    applicable: bool  # the domain publishes it (else nothing to judge)
    summary: str
    findings: list[Finding] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        title = "DANE" if self.topic == "dane" else "MTA-STS"
        shown = {
            k: ", ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in self.details.items()
        }
        return [f"{title}: {printable(self.summary, 300)}"] + [
            f"  {k}: {printable(v, 300)}" for k, v in shown.items()
        ]

    def to_dict(self) -> dict:
        return {
            "applicable": self.applicable,
            "summary": self.summary,
            "details": self.details,
            "findings": [f.to_dict() for f in self.findings],
        }


def check_dane(mx: str, port: int, scan: ScanResult, resolver: str | None, timeout: float) -> AuthReport:
    name = f"_{port}._tcp.{mx.rstrip('.')}"
    answer = dnsq.ask(name, "TLSA", resolver, timeout)
    ref = "RFC 7672 §2.2"
    if answer.status == "servfail":
        return AuthReport(
            "dane",
            True,
            f"{name}: the resolver failed ({answer.error})",
            [
                Finding(
                    "fail",
                    "dane",
                    f"TLSA lookup for {name} failed (DNSSEC bogus or a broken zone): DANE senders defer "
                    "the mail until it resolves",
                    "RFC 7672 §2.1.1",
                )
            ],
        )
    if answer.status in ("timeout", "error"):  # nothing known: not judged (a skip in a run), said why
        return AuthReport("dane", False, f"could not ask the DNS for TLSA at {name}: {answer.error}")
    if not answer.records:
        return AuthReport("dane", False, f"no TLSA records at {name}")
    records = [dane.Tlsa(r.usage, r.selector, r.mtype, bytes(r.cert)) for r in answer.records]
    details = {
        "tlsa": [str(r) for r in records],
        "dnssec": "validated (AD)" if answer.secure else "NOT validated",
    }
    if not answer.secure:
        return AuthReport(
            "dane",
            True,
            f"TLSA records at {name} are not DNSSEC-validated: not usable",
            [
                Finding(
                    "warn",
                    "dane",
                    f"{len(records)} TLSA record(s) at {name} without DNSSEC validation: senders ignore "
                    "them (not usable), the MX gets no DANE protection",
                    ref,
                )
            ],
            details,
        )
    usable = [r for r in records if r.usable]
    if not usable:
        return AuthReport(
            "dane",
            True,
            "no usable TLSA record (only PKIX-TA/PKIX-EE usages)",
            [
                Finding(
                    "warn",
                    "dane",
                    "the TLSA records use only usages 0/1, unusable for SMTP: senders use TLS without "
                    "authentication",
                    "RFC 7672 §3.1.3",
                )
            ],
            details,
        )
    matched = [r for r in usable if dane.matches(r, scan.chain)]
    named = name_matches(mx, scan.certificate.get("sans", []))
    good = [r for r in matched if not dane.needs_name(r) or named]
    details["matching"] = [str(r) for r in good] or "none"
    if good:
        return AuthReport(
            "dane",
            True,
            f"the presented chain matches {len(good)} of {len(usable)} usable TLSA record(s)",
            [],
            details,
        )
    why = (
        ("a DANE-TA record matches but the certificate does not name " + mx)
        if matched
        else (
            "none of the usable TLSA records matches the presented chain (a key rolled without updating TLSA?)"
        )
    )
    return AuthReport(
        "dane",
        True,
        why,
        [
            Finding(
                "fail",
                "dane",
                f"{why}: DANE senders refuse to deliver and keep the mail queued",
                "RFC 7672 §2.2, §3.1",
            )
        ],
        details,
    )


# Without a valid policy a sender delivers as if none were published (RFC 8461 §5): a broken record, an
# unreachable or malformed policy is a warn. Only an enforced policy that excludes the MX, or an MX
# certificate it does not accept, stops delivery: a fail (a warn under mode testing).
def check_mta_sts(
    domain: str,
    mx: str | None,
    scan: ScanResult | None,
    resolver: str | None,
    timeout: float,
    ca_file: str | None,
) -> AuthReport:
    """`mx`/`scan`: the MX scanned (its certificate is judged, RFC 8461 §4.2); None: the policy and the
    domain's MX records only (audit)."""
    from concurrent.futures import ThreadPoolExecutor

    domain = domain.rstrip(".").lower()
    with ThreadPoolExecutor(max_workers=3) as pool:  # the three lookups at once: one round trip, not three
        asked = [
            pool.submit(dnsq.ask, name, rdtype, resolver, timeout)
            for name, rdtype in (
                (f"_mta-sts.{domain}", "TXT"),
                (f"_smtp._tls.{domain}", "TXT"),
                (domain, "MX"),
            )
        ]
        txt, rpt, mx_answer = (job.result() for job in asked)
    records = [b"".join(r.strings).decode("utf-8", "replace") for r in txt.records]
    sts = [r for r in records if r.startswith("v=STSv1")]
    details: dict = {"mx_hosts": _mx_hosts(mx_answer)}
    out: list[Finding] = []
    _tlsrpt(domain, rpt, details, out)
    if txt.status in ("timeout", "error", "servfail"):  # nothing known: not judged, said why
        why = txt.error or txt.status
        return AuthReport(
            "mta-sts", False, f"could not ask the DNS for _mta-sts.{domain}: {why}", out, details
        )
    if not sts:
        return AuthReport("mta-sts", False, f"{domain} publishes no MTA-STS record", out, details)
    if len(sts) > 1:
        out.append(
            Finding(
                "warn", "mta-sts", "more than one v=STSv1 record: senders ignore MTA-STS", "RFC 8461 §3.1"
            )
        )
    _, errors = mtasts.parse_txt(sts[0], "STSv1")
    details["record"] = sts[0]
    out += [Finding("warn", "mta-sts", f"_mta-sts.{domain}: {e}", "RFC 8461 §3.1") for e in errors]
    policy_host = f"mta-sts.{domain}"
    address = next(
        (
            str(r)
            for rdtype in ("A", "AAAA")
            for r in dnsq.ask(policy_host, rdtype, resolver, timeout).records
        ),
        None,
    )
    if address is None:
        out.append(
            Finding(
                "warn",
                "mta-sts",
                f"{policy_host} has no address: the policy cannot be fetched",
                "RFC 8461 §3.3",
            )
        )
        return AuthReport("mta-sts", True, "no policy", out, details)
    body, error = mtasts.fetch(domain, address, timeout, ca_file)
    if body is None:
        out.append(Finding("warn", "mta-sts", f"policy fetch: {error}", "RFC 8461 §3.3"))
        return AuthReport("mta-sts", True, "the policy could not be fetched", out, details)
    policy = mtasts.parse_policy(body)
    details.update(mode=policy.mode, mx=policy.mx, max_age=policy.max_age)
    out += [Finding("warn", "mta-sts", f"policy: {e}", "RFC 8461 §3.2") for e in policy.errors]
    if policy.mode == "none" or policy.errors:
        return AuthReport("mta-sts", True, f"policy mode {policy.mode or '(invalid)'}", out, details)
    severity = "fail" if policy.mode == "enforce" else "warn"  # testing: senders deliver and report
    mxs = details["mx_hosts"] or ([mx] if mx else [])
    uncovered = [h for h in mxs if not mtasts.mx_matches(h, policy.mx)]
    if mx and not mtasts.mx_matches(mx, policy.mx) and mx not in uncovered:
        uncovered.append(mx)
    if uncovered:
        out.append(
            Finding(
                severity,
                "mta-sts",
                f"MX {', '.join(uncovered)} not covered by the policy's mx: "
                f"{', '.join(policy.mx)}; senders under mode {policy.mode} will not deliver there",
                "RFC 8461 §4.1",
            )
        )
    cert = scan.certificate if scan is not None and mx else None
    if cert is not None and (
        not cert.get("chain_verified") or not name_matches(mx or "", cert.get("sans", []))
    ):
        problem = cert.get("verify_error") or f"it does not name {mx}"
        out.append(
            Finding(
                severity,
                "mta-sts",
                f"the MX certificate is not valid for {mx} under WebPKI rules "
                f"({problem}); senders under mode {policy.mode} will not deliver",
                "RFC 8461 §4.2",
            )
        )
    summary = f"policy mode {policy.mode}, mx {', '.join(policy.mx)}" + (
        "" if not out else " (problems below)"
    )
    return AuthReport("mta-sts", True, summary, out, details)


def _mx_hosts(answer: dnsq.Answer) -> list[str]:
    return [str(r.exchange).rstrip(".").lower() for r in answer.records if str(r.exchange) != "."]


def _tlsrpt(domain: str, answer: dnsq.Answer, details: dict, out: list[Finding]) -> None:
    records = [b"".join(r.strings).decode("utf-8", "replace") for r in answer.records]
    rpt = [r for r in records if r.startswith("v=TLSRPTv1")]
    if not rpt:
        details["tls_rpt"] = "none"
        out.append(
            Finding(
                "info",
                "mta-sts",
                f"no TLS-RPT record at _smtp._tls.{domain}: no failure reports",
                "RFC 8460 §3",
            )
        )
        return
    details["tls_rpt"] = rpt[0]
    _, errors = mtasts.parse_txt(rpt[0], "TLSRPTv1")
    out += [Finding("warn", "mta-sts", f"TLS-RPT _smtp._tls.{domain}: {e}", "RFC 8460 §3") for e in errors]
