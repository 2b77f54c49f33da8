"""What a scan means for a port, as findings (severity, topic, text, reference): pure.

Topics match the catalogue scenarios: versions (tls-versions), ciphers (tls-ciphers, with the server's
cipher order), features (tls-features: renegotiation, compression, heartbeat), certificate
(tls-certificate). Severity: fail, warn, info (ARCHITECTURE.md "Verdicts": fail only for harm).
"""

from __future__ import annotations

from dataclasses import dataclass

from smtpprobe.tls import printable
from smtpprobe.tlsscan import grade
from smtpprobe.tlsscan import groups as grp
from smtpprobe.tlsscan.scan import ScanResult

ROLE_BY_PORT = {25: "mx", 587: "submission", 465: "smtps"}


@dataclass(frozen=True)
class Finding:
    severity: str  # fail, warn, info
    topic: str  # versions, ciphers, features, certificate
    text: str
    reference: str = ""

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def role_for(port: int, starttls: bool) -> str:
    """mx, submission or smtps: by port number, else by how TLS starts."""
    return ROLE_BY_PORT.get(port, "mx" if starttls else "smtps")


def assess(result: ScanResult, role: str) -> list[Finding]:
    return versions(result) + ciphers(result, role) + features(result) + certificate(result, role)


def versions(result: ScanResult) -> list[Finding]:
    out = []
    accepted = {v.version for v in result.versions if v.accepted}
    for v in result.versions:
        level, reference = grade.VERSION_VERDICT[_code(v.version)]
        if v.accepted and level == "insecure":
            out.append(Finding("fail", "versions", _accepted(v), reference))
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


def _accepted(v) -> str:
    if v.version != "SSLv2":
        return f"{v.version} accepted"
    kinds = [s["name"] for s in v.suites]
    return (
        f"SSLv2 accepted: the server answered an SSLv2 CLIENT-HELLO with a SERVER-HELLO "
        f"({_few(kinds) if kinds else 'no cipher kind in common'}); a server that speaks SSLv2 lets an attacker "
        "decrypt recorded TLS sessions made with the same RSA key (DROWN, CVE-2016-0800)"
    )


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
                grade.dh_severity(dh, role),
                "ciphers",
                f"Diffie-Hellman prime of {result.dh_bits} bits (the smallest of the DHE suites accepted)",
                "RFC 9325 §4.5 (at least 2048 bits REQUIRED); RFC 7435 §1.2 on an MX port",
            )
        )
    return out + groups(result) + order(result)


def groups(result: ScanResult) -> list[Finding]:
    """Elliptic curves under 224 bits accepted for key exchange (RFC 9325 §4.5 MUST NOT, like a broken suite:
    a client that offers only such a curve gets it), and the other curves RFC 8422 deprecated (an info)."""
    curves = [name for name in result.groups if name in {n for n, _ in grp.EC.values()}]
    weak = [n for n in curves if grp.weak(n)]
    out = []
    if weak:
        only = "the only curves accepted for ECDHE are" if len(weak) == len(curves) else "ECDHE accepts"
        out.append(
            Finding(
                "fail",
                "ciphers",
                f"{only} under 224 bits: {', '.join(weak)}; such a key exchange offers less than 112 bits of "
                "security",
                "RFC 9325 §4.5 (curves under 224 bits MUST NOT be used); RFC 8422 §5.1.1 (deprecated)",
            )
        )
    old = [n for n in curves if grp.deprecated(n) and n not in weak]
    if old:
        out.append(
            Finding(
                "info",
                "ciphers",
                f"deprecated curves accepted for ECDHE: {', '.join(old)}",
                "RFC 8422 §5.1.1 (deprecated(1..22))",
            )
        )
    return out


ORDER_REFERENCE = (
    "RFC 9325 §4.2.1 (servers MUST prefer the recommended suite over weaker ones, even when it is not the "
    "client's first)"
)


def order(result: ScanResult) -> list[Finding]:
    """Whose cipher order wins, where it matters: the client's while weaker suites are enabled (a client that
    lists one first gets it), or the server's own order preferring the weaker of two suites."""
    client, weak_first, shown = [], [], ""
    for v in result.versions:
        evidence = v.order_evidence or {}
        if v.order == "client" and any(s["grade"] != "strong" for s in v.suites):
            client.append(v.version)
            (first, second), chosen = evidence["offered"], evidence["chosen"]
            shown = f"{v.version}: {first} first, it chose {chosen[0]}; {second} first, {chosen[1]}"
        elif v.order == "server" and "chosen" in evidence:
            grades = {s["name"]: s["grade"] for s in v.suites}
            picked = evidence["chosen"][0]
            other = next(n for n in evidence["offered"] if n != picked)
            if grade.GRADES.index(grades[picked]) > grade.GRADES.index(grades[other]):
                weak_first.append(
                    f"{v.version}: {picked} ({grades[picked]}) before {other} ({grades[other]})"
                )
    out = []
    if client:
        out.append(
            Finding(
                "warn",
                "ciphers",
                f"the server follows the client's cipher order on {', '.join(client)}, where weaker suites "
                f"are enabled too ({shown}): a client that lists a weaker suite first gets it",
                ORDER_REFERENCE,
            )
        )
    if weak_first:
        out.append(
            Finding(
                "warn",
                "ciphers",
                f"the server's own cipher order prefers a weaker suite: {'; '.join(weak_first)}",
                ORDER_REFERENCE,
            )
        )
    return out


def features(result: ScanResult) -> list[Finding]:
    """Secure renegotiation, compression, heartbeat, as the ServerHello to one hello up to TLS 1.2 shows."""
    f = result.features
    if not f:
        return []
    asked = f["asked_with"]
    if "error" in f:
        return [
            Finding(
                "info",
                "features",
                f"renegotiation, compression and heartbeat unknown: {printable(f['error'], 160)}",
            )
        ]
    out = []
    if not f["secure_renegotiation"]:
        out.append(
            Finding(
                "fail",
                "features",
                f"no secure renegotiation: the ServerHello to a {asked} hello carries no "
                "renegotiation_info; clients that follow RFC 9325 abort such handshakes, and a server that "
                "renegotiates is open to prefix injection (CVE-2009-3555)",
                "RFC 5746 §3.6, §4.3 (MUST); RFC 9325 §3.5 (MUST)",
            )
        )
    if f["compression"] != "null":
        out.append(
            Finding(
                "fail",
                "features",
                f"TLS compression: offered DEFLATE and null in a {asked} hello, the server chose "
                f"{printable(f['compression'])}: whoever can add text to a session can recover secrets "
                "in it, such as AUTH credentials, from the sizes of the compressed records (CRIME)",
                "RFC 9325 §3.3 (SHOULD NOT); RFC 7457 §2.6",
            )
        )
    if f["heartbeat"]:
        out.append(
            Finding(
                "info",
                "features",
                "the heartbeat extension is enabled (the server echoed it): SMTP has no use for it, and it "
                "is the code path of Heartbleed (CVE-2014-0160); smtpprobe never sends a heartbeat, so that "
                "bug was not probed",
                "RFC 6520 §2",
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
