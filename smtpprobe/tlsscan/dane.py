"""DANE for SMTP (RFC 7672, RFC 7671): does a TLSA record match the chain the server presents? Pure.

Usages (RFC 7672 §3.1): 3 DANE-EE matches the leaf, and then neither its names nor its dates matter;
2 DANE-TA matches a certificate of the chain other than the leaf (a trust anchor the server sends), and the
leaf must then name the MX. Usages 0 and 1 (PKIX-TA, PKIX-EE) are unusable for SMTP (§3.1.3).
Selector 0: the whole certificate, 1: its SubjectPublicKeyInfo. Matching type 0: exact, 1: SHA-256,
2: SHA-512.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()[:64]}{'...' if len(self.data) > 32 else ''}"

    @property
    def usable(self) -> bool:
        return self.usage in (2, 3) and self.selector in (0, 1) and self.mtype in (0, 1, 2)


def association(cert_der: bytes, selector: int, mtype: int) -> bytes | None:
    """The bytes a TLSA record with this selector and matching type carries for a certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if selector == 0:
        content = cert_der
    elif selector == 1:
        try:
            key = x509.load_der_x509_certificate(cert_der).public_key()
        except ValueError:
            return None
        content = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        return None
    if mtype == 0:
        return content
    if mtype == 1:
        return hashlib.sha256(content).digest()
    if mtype == 2:
        return hashlib.sha512(content).digest()
    return None


def matches(record: Tlsa, chain: list[bytes]) -> bool:
    """Does the record match the chain (leaf first)? Usage 3: the leaf; usage 2: a certificate above it."""
    if not record.usable or not chain:
        return False
    candidates = chain[:1] if record.usage == 3 else chain[1:]
    return any(association(der, record.selector, record.mtype) == record.data for der in candidates)


def needs_name(record: Tlsa) -> bool:
    """RFC 7672 §3.2.2: with DANE-TA the leaf must carry the MX name; DANE-EE ignores names (§3.2.1)."""
    return record.usage == 2
