"""Grades for protocol versions and cipher suites (RFC 8996, RFC 9325 = BCP 195, RFC 7435): pure.

Suite grades, worst first:
  insecure    NULL encryption, EXPORT, RC4, single DES, RC2, anonymous key exchange (no server
              authentication): RFC 9325 §4.1 MUST NOT (anonymous: see `anonymous_severity`)
  weak        3DES (112-bit, Sweet32), IDEA, no forward secrecy (RSA/PSK/static DH key transport):
              RFC 9325 §4.1 SHOULD NOT
  acceptable  forward secrecy with a CBC (MAC-then-encrypt) cipher: allowed, not recommended (§4.2)
  strong      forward secrecy and an AEAD cipher (GCM, CCM, ChaCha20-Poly1305), and every TLS 1.3 suite
"""

from __future__ import annotations

from smtpprobe.tlsscan.hello import SSL2, SSL3, TLS10, TLS11, TLS12, TLS13

GRADES = ("strong", "acceptable", "weak", "insecure")

# RFC 6176 (SSLv2), RFC 7568 (SSLv3), RFC 8996 (TLS 1.0 and 1.1): MUST NOT be negotiated.
VERSION_VERDICT = {
    SSL2: ("insecure", "RFC 6176 §3: TLS servers MUST NOT reply with an SSL 2.0 SERVER-HELLO"),
    SSL3: ("insecure", "RFC 7568 §2: SSLv3 MUST NOT be used"),
    TLS10: ("insecure", "RFC 8996 §4: TLS 1.0 MUST NOT be negotiated"),
    TLS11: ("insecure", "RFC 8996 §5: TLS 1.1 MUST NOT be negotiated"),
    TLS12: ("strong", "RFC 9325 §3.1.1: TLS 1.2 MUST be supported"),
    TLS13: ("strong", "RFC 9325 §3.1.1: TLS 1.3 SHOULD be supported"),
}


def suite_flags(name: str) -> list[str]:
    """What is wrong with a suite, by its IANA name: 'anonymous', 'NULL', 'EXPORT', 'RC4', 'DES', 'RC2',
    '3DES', 'IDEA', 'no forward secrecy', 'CBC'. Empty for an AEAD suite with forward secrecy."""
    if name.startswith("TLS_") and "_WITH_" not in name:  # TLS 1.3: AEAD, (EC)DHE always
        return []
    kex, _, cipher = name.partition("_WITH_")
    flags = []
    if "_anon" in kex or kex.endswith("NULL"):
        flags.append("anonymous")
    if cipher.startswith("NULL"):
        flags.append("NULL")
    if "EXPORT" in name:
        flags.append("EXPORT")
    if "RC4" in cipher:
        flags.append("RC4")
    if "3DES" in cipher:
        flags.append("3DES")
    elif "DES" in cipher:
        flags.append("DES")
    if "RC2" in cipher:
        flags.append("RC2")
    if "IDEA" in cipher:
        flags.append("IDEA")
    if "anonymous" not in flags and not any(k in kex for k in ("DHE_", "ECDHE_", "_DHE", "_ECDHE")):
        flags.append("no forward secrecy")  # RSA, PSK, static DH/ECDH: a stolen key decrypts old traffic
    if "CBC" in cipher:
        flags.append("CBC")
    return flags


def suite_grade(name: str) -> str:
    flags = set(suite_flags(name))
    if flags & {"anonymous", "NULL", "EXPORT", "RC4", "DES", "RC2"}:
        return "insecure"
    if flags & {"3DES", "IDEA", "no forward secrecy"}:
        return "weak"
    if "CBC" in flags:
        return "acceptable"
    if not any(aead in name for aead in ("GCM", "CCM", "CHACHA20_POLY1305")) and "_WITH_" in name:
        return "acceptable"  # CAMELLIA/ARIA/SEED in modes not named above
    return "strong"


def anonymous_severity(role: str) -> str:
    """Anonymous suites: 'fail' where clients authenticate the server (submission, implicit TLS: RFC 8314
    §5.1, RFC 9325 §4.1), 'warn' on an MX port. Between MTAs TLS is opportunistic (RFC 7435 §1.2): a
    sender that does not authenticate the server gains nothing from a certificate, and an anonymous suite
    still beats clear text; RFC 7672 §2.2 even lets DANE-less senders negotiate them. A sender that does
    authenticate (DANE, MTA-STS) never picks one. Still worth removing: nothing gains from offering them."""
    return "warn" if role == "mx" else "fail"


def dh_severity(grade: str, role: str) -> str:
    """A prime under 1024 bits fails everywhere (Logjam). Under 2048 (RFC 9325 §4.5: at least 2048 bits
    REQUIRED) fails where clients authenticate the server and rely on the channel (submission, implicit TLS:
    RFC 8314), and warns on an MX port, where TLS is opportunistic and still beats clear text (RFC 7435 §1.2),
    as for anonymous suites."""
    return "fail" if grade == "insecure" else anonymous_severity(role)


def dh_grade(bits: int | None) -> str | None:
    """RFC 9325 §4.5: DH keys of at least 2048 bits are REQUIRED; under 1024 are broken (Logjam)."""
    if bits is None:
        return None
    if bits < 1024:
        return "insecure"
    if bits < 2048:
        return "weak"
    return "strong"


def worst(grades: list[str]) -> str | None:
    return max(grades, key=GRADES.index) if grades else None


__all__ = [
    "GRADES",
    "SSL2",
    "SSL3",
    "TLS10",
    "TLS11",
    "TLS12",
    "TLS13",
    "VERSION_VERDICT",
    "anonymous_severity",
    "dh_grade",
    "suite_flags",
    "suite_grade",
    "worst",
]
