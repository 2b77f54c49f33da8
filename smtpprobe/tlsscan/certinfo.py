"""The certificate chain a server presents, described for a scan: key, signature, expiry, names, chain.

Chain verification and name matching are smtpprobe.tls's (one rule for "verified" everywhere).
"""

from __future__ import annotations

from datetime import UTC, datetime

from smtpprobe import tls

MIN_RSA_BITS = 2048  # RFC 9325 §4.4 (and CA/B Forum): RSA keys under 2048 bits SHOULD NOT be used
EXPIRY_WARN_DAYS = 14


def describe_chain(chain: list[bytes], name: str | None, ca_file: str | None) -> dict:
    """Facts and problems about a DER chain (leaf first). `problems` holds one line per finding."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    out: dict = {"chain_length": len(chain), "problems": []}
    problems: list[str] = out["problems"]
    if not chain:
        problems.append("the server sent no certificate")
        return out
    try:
        certs = [x509.load_der_x509_certificate(der) for der in chain]
        leaf = certs[0]
        names = tls.sans(leaf)
        key = leaf.public_key()
        out.update(
            subject=tls.name_text(leaf.subject),
            issuer=tls.name_text(leaf.issuer),
            sans=names,
            not_after=leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
            days_left=int((leaf.not_valid_after_utc - datetime.now(UTC)).total_seconds() // 86400),
            signature=_signature(leaf),
            key_type=_key_type(key, rsa, ec, dsa, ed25519, ed448),
            key_bits=getattr(key, "key_size", None),
            self_signed=leaf.issuer == leaf.subject,
        )
    except ValueError as exc:
        problems.append(f"unreadable certificate: {tls.printable(str(exc))}")
        return out
    out["san_present"] = bool(names)
    out["name_matches"] = bool(name) and tls.name_matches(name or "", names)
    verified, error = tls.verify_chain(certs, ca_file, name if out["name_matches"] else None)
    out["chain_verified"], out["verify_error"] = verified, error
    if not names:
        problems.append("no subjectAltName: clients ignore the CN (RFC 6125 §6.4.4)")
    elif name and not out["name_matches"]:
        problems.append(f"the certificate does not name {tls.printable(name)}")
    if not verified:
        problems.append(f"chain: {error}")
        if len(chain) == 1 and not out["self_signed"]:  # the usual cause of a chain that does not verify
            problems.append(
                "only the leaf certificate was sent and its issuer is not trusted here: send the "
                "intermediate certificate(s) too, unless the issuer is a private CA"
            )
    if out["days_left"] < 0:
        problems.append(f"expired {-out['days_left']} days ago")
    elif out["days_left"] < EXPIRY_WARN_DAYS:
        problems.append(f"expires in {out['days_left']} day{'s' if out['days_left'] != 1 else ''}")
    if out["key_type"] == "RSA" and (out["key_bits"] or 0) < MIN_RSA_BITS:
        problems.append(f"RSA key of {out['key_bits']} bits (RFC 9325 §4.4: at least 2048)")
    if out["signature"].lower().startswith(("md5", "sha1")):
        problems.append(f"signed with {out['signature']} (collisions are practical)")
    return out


def _signature(cert) -> str:
    try:
        return str(cert.signature_algorithm_oid._name)
    except Exception:  # noqa: BLE001 - an unknown algorithm is a fact to show, not a crash
        return cert.signature_algorithm_oid.dotted_string


def _key_type(key, rsa, ec, dsa, ed25519, ed448) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__
