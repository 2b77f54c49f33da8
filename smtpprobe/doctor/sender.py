"""The sender's side, checked without talking to the target: the HELO's form, then the audit.

The audit does the DNS work (SPF for the IP, DKIM keys, DMARC and alignment, PTR/FCrDNS, HELO -> IP,
DNS blocklists). The doctor adds what the audit leaves to the caller: an address-literal HELO (the audit
takes names only) and a stricter reading of two HELO findings that receivers refuse on.
"""

from __future__ import annotations

from dataclasses import replace

from smtpprobe.audit import findings as F
from smtpprobe.doctor.plan import Options, helo_literal

# Audit warnings a receiver commonly turns into a refusal, hence faults for the doctor: Postfix's
# reject_unknown_helo_hostname (450 4.7.1 Helo command rejected: Host not found), non-FQDN HELO (504 5.5.2).
_PROMOTED = {"host.helo-no-address", "host.helo-not-fqdn"}


def helo_findings(helo: str, ip: str) -> list[F.Finding]:
    """Findings about the HELO's form; empty when it is a name for the audit to resolve."""
    literal = helo_literal(helo)
    if literal is not None:
        same = "" if literal == ip else f" (and it is not --ip {ip})"
        return [F.error(
            "doctor.helo-ip-literal", f"HELO {helo} is an address literal{same}",
            "Greet with the mail host's fully qualified name, the one its PTR points to. RFC 5321 allows a "
            "literal only for a host without a name, and many receivers refuse it (Postfix: 554 5.7.1 "
            "Helo command rejected; MailPlus: 550 5.5.1 Protocol error).", "RFC 5321 §4.1.1.1, §4.1.3")]
    if "." not in helo.strip("."):
        return [F.error("host.helo-not-fqdn", f"HELO {helo!r} is not a fully qualified domain name",
                        "Use the host's FQDN (the name its PTR points to); Postfix's "
                        "reject_non_fqdn_helo_hostname answers 504 5.5.2.", "RFC 5321 §4.1.1.1")]
    return []


def audit_helo(helo: str) -> str | None:
    """The HELO to hand the audit: only a well-formed name."""
    from smtpprobe.audit.run import check_domain
    from smtpprobe.errors import UsageError

    if helo_literal(helo) is not None or "." not in helo.strip("."):
        return None
    try:
        return check_domain(helo, "--helo")
    except UsageError:
        return None


def check_sender(opts: Options) -> tuple[list[F.Finding], object]:
    """(findings, audit Report). The audit raises UsageError on bad input, AuditError if it cannot run."""
    from smtpprobe.audit.run import Options as AuditOptions
    from smtpprobe.audit.run import run_audit

    helo = audit_helo(opts.helo)
    own = helo_findings(opts.helo, opts.ip)
    if helo is None and not own:
        own = [F.error("doctor.helo-invalid", f"HELO {opts.helo!r} is not a valid host name",
                       "Use the host's fully qualified name: letters, digits, hyphens and dots.",
                       "RFC 5321 §4.1.1.1")]
    domain = opts.sender.rsplit("@", 1)[1]
    report = run_audit(AuditOptions(domain, ip=opts.ip, helo=helo, sender=opts.sender,
                                    selectors=list(opts.selectors), resolver=opts.resolver,
                                    timeout=opts.dns_timeout, dnsbl=opts.dnsbl))
    found = [replace(f, severity=F.Severity.ERROR) if f.id in _PROMOTED and f.severity == F.Severity.WARNING
             else f for f in report.findings]
    return own + found + not_checked(report.findings), report


def not_checked(findings: list[F.Finding]) -> list[F.Finding]:
    """What could not be checked, one line per area ("blocklists: not checked: zen.spamhaus.org (REFUSED)"),
    so an unanswered check is not read as a clean one."""
    areas: dict[str, list[str]] = {}
    for f in findings:
        if f.id == "host.dnsbl-unknown":
            areas.setdefault("blocklists", []).append(f.message.replace(": could not check (", " (", 1))
        elif f.id.startswith("dns.resolver-"):
            areas.setdefault("DNS (SPF, DKIM, DMARC, PTR, blocklists)", []).append(f.message)
        elif f.id.endswith("temperror"):
            areas.setdefault(f.group.upper() if f.group != "host" else "host DNS", []).append(f.message)
    return [F.warning("doctor.not-checked", f"{area}: not checked: {'; '.join(why)}",
                      "Rerun with --resolver naming a recursive resolver that can ask these (DNS blocklists refuse "
                      "public resolvers).", "RFC 5782 §2")
            for area, why in areas.items()]
