"""DKIM key record parsing (RFC 6376 §3.6.1, RFC 8301, RFC 8463). Pure: no DNS here, see dkimcheck."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from smtpprobe.audit.tags import parse_tags

R = "RFC 6376"
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")


@dataclass
class Problem:
    id: str
    severity: str  # "error" | "warning" | "info"
    message: str
    fix: str
    rfc: str


@dataclass
class DkimKey:
    record: str
    key_type: str | None = None
    key_bits: int | None = None
    status: str = "ok"  # ok | testing | revoked | invalid
    tags: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, id: str, severity: str, message: str, fix: str = "", rfc: str = R) -> None:
        self.problems.append(Problem(id, severity, message, fix, rfc))
        if severity == "error" and self.status in ("ok", "testing"):
            self.status = "invalid"


def looks_like_dkim(text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith("v=DKIM") or "p=" in text


def _decode_b64(value: str) -> bytes | None:
    compact = re.sub(r"[ \t\r\n]", "", value)
    if not _B64.match(compact) or len(compact) % 4:
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def rsa_bits(der: bytes) -> tuple[int | None, str]:
    """Key size of an RSA key given as SubjectPublicKeyInfo or bare RSAPublicKey (errata 3017)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key: Any = load_der_public_key(der)
        form = "spki"
    except (ValueError, TypeError):
        try:  # PKCS#1 RSAPublicKey: wrap it in a PEM header cryptography understands
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
            key = load_pem_public_key(pem)
            form = "pkcs1"
        except (ValueError, TypeError):
            return None, "not a valid DER public key"
    except Exception as exc:  # noqa: BLE001 - unsupported algorithms raise UnsupportedAlgorithm
        return None, f"unsupported key: {type(exc).__name__}"
    if not isinstance(key, rsa.RSAPublicKey):
        return None, f"not an RSA key ({type(key).__name__})"
    return key.key_size, form


def parse_key_record(text: str) -> DkimKey:
    """Never raises. Every problem is a Problem with a stable id."""
    key = DkimKey(text)
    parsed = parse_tags(text)
    key.tags = parsed.tags
    for bad in parsed.errors:
        key.add("dkim.syntax", "error", f"malformed tag list: {bad}", "Write tags as name=value; name=value.",
                f"{R} §3.2")
    if parsed.duplicates:
        key.add("dkim.duplicate-tag", "error", f"duplicate tag(s) {', '.join(parsed.duplicates)}: the record "
                "is invalid", "Keep each tag once.", f"{R} §3.2")
    tags = parsed.tags
    if "v" in tags and (tags["v"] != "DKIM1" or parsed.order[0] != "v"):
        key.add("dkim.bad-version", "error", f"v={tags['v']!r} must be 'DKIM1' and the first tag",
                "Start the record with v=DKIM1;", f"{R} §3.6.1")
    k = tags.get("k", "rsa").lower()
    key.key_type = k
    if "p" not in tags:
        key.add("dkim.no-key", "error", "no p= tag (public key)", "Publish the public key in p=.", f"{R} §3.6.1")
        return key
    if tags["p"] == "":
        key.status = "revoked"
        key.add("dkim.revoked", "warning", "empty p=: the key is revoked; signatures with it fail",
                "Sign with a current selector, or publish the key again.", f"{R} §3.6.1")
        return key
    der = _decode_b64(tags["p"])
    if der is None:
        key.add("dkim.bad-base64", "error", "p= is not valid base64",
                "Paste the key again (no quotes, no line breaks inside strings).", f"{R} §3.6.1")
        return key
    if k == "ed25519":
        if len(der) != 32:
            key.add("dkim.bad-key", "error", f"ed25519 p= must be the raw 32-byte key, got {len(der)} bytes",
                    "Publish base64 of the raw 32-byte public key.", "RFC 8463 §4.2")
        else:
            key.key_bits = 256
    elif k == "rsa":
        bits, form = rsa_bits(der)
        if bits is None:
            key.add("dkim.bad-key", "error", f"p= is {form}", "Publish the DER SubjectPublicKeyInfo, base64.",
                    f"{R} §3.6.1")
        else:
            key.key_bits = bits
            if form == "pkcs1":
                key.add("dkim.pkcs1-key", "info", "p= is a bare RSAPublicKey, not SubjectPublicKeyInfo; some "
                        "verifiers reject it", "Publish the SubjectPublicKeyInfo form.", "RFC 6376 errata 3017")
            if bits < 1024:
                key.add("dkim.weak-key", "error", f"RSA key of {bits} bits: verifiers must reject it",
                        "Generate a 2048-bit RSA key.", "RFC 8301 §3.2")
            elif bits < 2048:
                key.add("dkim.short-key", "warning", f"RSA key of {bits} bits (2048 recommended)",
                        "Rotate to a 2048-bit RSA key.", "RFC 8301 §3.2")
    else:
        key.add("dkim.unknown-key-type", "error", f"unknown key type k={k}: verifiers ignore the record",
                "Use k=rsa or k=ed25519.", f"{R} §3.6.1")
    hashes = [h.strip().lower() for h in tags.get("h", "sha256").split(":") if h.strip()]
    if "sha256" not in hashes:
        key.add("dkim.sha1", "error", f"h={tags.get('h')}: only SHA-1 (or unknown) hashes allowed",
                "Remove h= or set h=sha256.", "RFC 8301 §3.1")
    flags = [f.strip().lower() for f in tags.get("t", "").split(":") if f.strip()]
    if "y" in flags:
        if key.status == "ok":
            key.status = "testing"
        key.add("dkim.testing", "warning", "t=y: testing mode; receivers treat mail as unsigned",
                "Remove t=y once DKIM works.", f"{R} §3.6.1")
    services = [s.strip().lower() for s in tags.get("s", "*").split(":")]
    if not {"*", "email"} & set(services):
        key.add("dkim.service", "error", f"s={tags['s']}: the key is not for email",
                "Remove s= or set s=email.", f"{R} §3.6.1")
    return key
