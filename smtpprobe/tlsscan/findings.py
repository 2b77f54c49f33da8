"""What a scan means for a port, as findings (severity, topic, text, reference): pure.

Topics match the catalogue scenarios: versions (tls-versions), ciphers (tls-ciphers), certificate
(tls-certificate). Severity: fail, warn, info (ARCHITECTURE.md "Verdicts": fail only for harm).
"""

from __future__ import annotations

from dataclasses import dataclass

from smtpprobe.tls import printable
from smtpprobe.tlsscan import grade
from smtpprobe.tlsscan.scan import ScanResult

ROLE_BY_PORT = {25: "mx", 587: "submission", 465: "smtps"}


@dataclass(frozen=True)
class Finding:
    severity: str  # fail, warn, info
    topic: str  # versions, ciphers, certificate
    text: str
    reference: str = ""

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def role_for(port: int, starttls: bool) -> str:
    """mx, submission or smtps: by port number, else by how TLS starts."""
    return ROLE_BY_PORT.get(port, "mx" if starttls else "smtps")


def assess(result: ScanResult, role: str) -> list[Finding]:
    return versions(result) + ciphers(result, role) + certificate(result, role)


def versions(result: ScanResult) -> list[Finding]:
    out = []
    accepted = {v.version for v in result.versions if v.accepted}
    for v in result.versions:
        level, reference = grade.VERSION_VERDICT[_code(v.version)]
        if v.accepted and level == "insecure":
            out.append(Finding("fail", "versions", f"{v.version} accepted", reference))
    if not accepted:
        out.append(Finding("fail", "versions", "no TLS version was accepted", "RFC 9325 §3.1.1"))
    elif "TLSv1.2" not in accepted and "TLSv1.3" not in accepted:
        out.append(Finding("fail", "versions", "neither TLS 1.2 nor TLS 1.3 is accepted", "RFC 9325 §3.1.1"))
    elif "TLSv1.3" not in accepted:
        out.append(Finding("info", "versions", "TLS 1.3 is not accepted", "RFC 9325 §3.1.1 (SHOULD support)"))
    if result.errors:  # a question went unanswered: what is missing cannot be judged
        out.append(
            Finding(
                "warn",
                "versions",
                f"the scan is incomplete ({printable(result.errors[0], 160)}): "
                "versions or suites may be missing",
            )
        )
    return out


def ciphers(result: ScanResult, role: str) -> list[Finding]:
    out = []
    suites = result.suites()
    anonymous = [s["name"] for s in suites if "anonymous" in s["flags"]]
    if anonymous:
        severity = grade.anonymous_severity(role)
        why = (
            "clients of this port authenticate the server; an anonymous suite lets anyone in the path "
            "impersonate it"
            if severity == "fail"
            else "opportunistic TLS between MTAs does not authenticate anyway (RFC 7435 §1.2), and senders "
            "that authenticate (DANE, MTA-STS) never choose them; remove them all the same"
        )
        out.append(
            Finding(
                severity,
                "ciphers",
                f"{_count(anonymous, 'anonymous suite')}: {_few(anonymous)}; {why}",
                "RFC 9325 §4.1; RFC 7435 §1.2; RFC 8314 §5.1",
            )
        )
    broken = [s["name"] for s in suites if set(s["flags"]) & {"NULL", "EXPORT", "RC4", "DES", "RC2"}]
    if broken:
        out.append(
            Finding(
                "fail",
                "ciphers",
                f"{_count(broken, 'broken suite')} (NULL, EXPORT, RC4, DES or RC2): {_few(broken)}",
                "RFC 9325 §4.1 (MUST NOT); RFC 7465 (RC4)",
            )
        )
    weak = [s["name"] for s in suites if s["grade"] == "weak" and s["name"] not in anonymous + broken]
    if weak:
        out.append(
            Finding(
                "warn",
                "ciphers",
                f"{_count(weak, 'weak suite')} (3DES, IDEA or no forward secrecy): {_few(weak)}",
                "RFC 9325 §4.1 (SHOULD NOT)",
            )
        )
    dh = grade.dh_grade(result.dh_bits)
    if dh in ("weak", "insecure"):
        out.append(
            Finding(
                "fail" if dh == "insecure" else "warn",
                "ciphers",
                f"Diffie-Hellman group of {result.dh_bits} bits",
                "RFC 9325 §4.1 (at least 2048 bits)",
            )
        )
    return out


def certificate(result: ScanResult, role: str) -> list[Finding]:
    """On an MX port a certificate problem is a warn (senders that do not authenticate do not look; DANE and
    MTA-STS, which do, are judged in their own scenarios); where clients authenticate, a fail."""
    cert = result.certificate
    if not cert:
        return []
    severity = "warn" if role == "mx" else "fail"
    reference = "RFC 7435 §1.2 (opportunistic)" if role == "mx" else "RFC 8314 §4.1; RFC 6125 §6"
    return [
        Finding("warn" if problem.startswith("expires in") else severity, "certificate", problem, reference)
        for problem in cert.get("problems", [])
    ]


def _code(name: str) -> int:
    from smtpprobe.tlsscan.hello import VERSION_NAMES

    return next(code for code, n in VERSION_NAMES.items() if n == name)


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _few(items: list[str], limit: int = 3) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")
