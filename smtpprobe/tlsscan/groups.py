"""Key-exchange groups (pure): names and sizes, which are weak, the curve of an ECDSA certificate, the RFC 7919
group a DH prime is, and the plan for asking a server which groups it accepts.

The plan is the suite enumeration's: offer every candidate group, take out the one the server chose, ask
again until it refuses. One catch at TLS 1.2: the supported_groups list also bounds the curve of an ECDSA
certificate (RFC 8422 §4: a server MUST NOT negotiate an ECC suite unless it can complete the handshake
within the client's curves), so a server whose only EC suites are ECDHE_ECDSA refuses every hello that
leaves its certificate's curve out. That curve (the anchor) stays in every offer, last; when the server picks
it while other candidates remain, those are either refused (the server follows the client's order) or ranked
below it (its own order), and one more question, the anchor before a group found earlier, tells which.
"""

from __future__ import annotations

import hashlib

# RFC 8422 §5.1.1 (1..25, 1..22 deprecated), RFC 7027 (brainpool), RFC 7748/8422 (x25519, x448): bits of
# the field, which for RFC 9325 §4.5 ("Curves of less than 224 bits MUST NOT be used") is what counts.
EC: dict[int, tuple[str, int]] = {
    1: ("sect163k1", 163),
    2: ("sect163r1", 163),
    3: ("sect163r2", 163),
    4: ("sect193r1", 193),
    5: ("sect193r2", 193),
    6: ("sect233k1", 233),
    7: ("sect233r1", 233),
    8: ("sect239k1", 239),
    9: ("sect283k1", 283),
    10: ("sect283r1", 283),
    11: ("sect409k1", 409),
    12: ("sect409r1", 409),
    13: ("sect571k1", 571),
    14: ("sect571r1", 571),
    15: ("secp160k1", 160),
    16: ("secp160r1", 160),
    17: ("secp160r2", 160),
    18: ("secp192k1", 192),
    19: ("secp192r1", 192),
    20: ("secp224k1", 224),
    21: ("secp224r1", 224),
    22: ("secp256k1", 256),
    23: ("secp256r1", 256),
    24: ("secp384r1", 384),
    25: ("secp521r1", 521),
    26: ("brainpoolP256r1", 256),
    27: ("brainpoolP384r1", 384),
    28: ("brainpoolP512r1", 512),
    29: ("x25519", 255),
    30: ("x448", 448),
}
MIN_EC_BITS = 224  # RFC 9325 §4.5
DEPRECATED = range(1, 23)  # RFC 8422 §5.1.1: deprecated(1..22)
# RFC 7919 Appendix A: the FFDHE groups, known by the first 128 bits of the SHA-256 of their prime (big-endian,
# no leading zeros).
FFDHE: dict[int, tuple[str, str]] = {
    0x100: ("ffdhe2048", "9cd3b7f336872f46c09428d1bbc19877"),
    0x101: ("ffdhe3072", "0eaf67db3a839156d5013494a5318a77"),
    0x102: ("ffdhe4096", "4648414224ac881b3d0dc59b466f96d0"),
    0x103: ("ffdhe6144", "227ac9066b3ddd9e193670cda2388fa8"),
    0x104: ("ffdhe8192", "770b14efaf6f049929c523113b3fa99a"),
}
OWN_PRIME = -1  # a DH prime that is no RFC 7919 group: the server's own
# What a hello below TLS 1.3 offers: every curve, so that a server with only deprecated ones is not taken for
# one that refuses the version; the usual ones first, so a server in the client's order picks one of those.
EC_OFFER = [29, 23, 30, 25, 24, 26, 27, 28, *range(22, 0, -1)]
LEGACY_OFFER = EC_OFFER + list(FFDHE)


def key_exchange(suite: str) -> str | None:
    """For a suite (IANA name) whose ServerKeyExchange names a curve, "ecdhe"; carries a DH prime, "dhe"
    (ephemeral or anonymous); else None. PSK suites are left out: their hint comes first, and no scan has a
    PSK to negotiate them with."""
    kex = suite.partition("_WITH_")[0]
    if "_PSK" in kex:
        return None
    if "_ECDHE_" in kex or "_ECDH_anon" in kex:
        return "ecdhe"
    if "_DHE_" in kex or "_DH_anon" in kex:
        return "dhe"
    return None


def name(code: int) -> str:
    if code in EC:
        return EC[code][0]
    if code in FFDHE:
        return FFDHE[code][0]
    return "its own prime" if code == OWN_PRIME else f"group 0x{code:04X}"


def weak(group: str) -> bool:
    """An elliptic curve under 224 bits (RFC 9325 §4.5 MUST NOT). FFDHE groups are 2048 bits and up."""
    bits = {n: b for n, b in EC.values()}.get(group)
    return bits is not None and bits < MIN_EC_BITS


def deprecated(group: str) -> bool:
    return any(EC[c][0] == group for c in DEPRECATED)


def ffdhe(prime: bytes | None) -> int:
    """The RFC 7919 group a ServerKeyExchange's DH prime is, or OWN_PRIME."""
    digest = hashlib.sha256(prime or b"").hexdigest()[:32]
    return next((code for code, (_, known) in FFDHE.items() if known == digest), OWN_PRIME)


def certificate_curve(der: bytes | None) -> int | None:
    """The named curve of an EC certificate's key (the TLS code), None for other keys or unreadable DER."""
    if not der:
        return None
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):  # whatever a hostile server sends
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return None
    alias = {"prime256v1": "secp256r1", "prime192v1": "secp192r1"}
    curve = alias.get(key.curve.name, key.curve.name)
    return next((code for code, (n, _) in EC.items() if n == curve), None)


class GroupSearch:
    """Which of `candidates` a server accepts: offer() says what to ask next, answer() takes what it chose.
    At most len(candidates) + 2 questions: one per group found, the last refusal, and the order question."""

    def __init__(self, candidates: list[int]):
        self.remaining = list(candidates)
        self.found: list[int] = []
        self.anchor: int | None = None  # a group that must stay in every offer (see the module's text)
        self.ignored: int | None = None  # a group the server chose that was not offered: it ignores the list
        self.done = False
        self.complete = True  # False when groups may be missing (the server's order hides them)
        self._check: tuple[int, int] | None = None  # (anchor, a group found before), asked in that order

    def offer(self) -> list[int]:
        if self._check:
            return list(self._check)
        rest = [g for g in self.remaining if g != self.anchor]
        return rest + ([self.anchor] if self.anchor is not None else [])

    def answer(self, chosen: int | None) -> None:
        """`chosen`: the group of the server's key exchange; None when it refused the hello."""
        offered = self.offer()
        if self._check:
            anchor, _ = self._check
            self.done = True
            self.complete = (
                chosen == anchor
            )  # the client's order: the anchor won only because nothing else did
            return
        if chosen is None:
            self.done = True
            return
        if chosen not in offered:
            self.ignored, self.done = chosen, True
            return
        if chosen not in self.found:
            self.found.append(chosen)
        if chosen in self.remaining:
            self.remaining.remove(chosen)
        if chosen == self.anchor and offered[-1] == chosen and len(offered) > 1:
            earlier = [g for g in self.found if g != self.anchor]
            if earlier:
                self._check = (self.anchor, earlier[0])
            else:
                self.done, self.complete = True, False  # nothing to tell the orders apart with
            return
        if not [g for g in self.offer() if g not in self.found]:
            self.done = True  # every candidate found: nothing left to ask
