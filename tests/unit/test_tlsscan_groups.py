"""The key-exchange group parts of `smtpprobe tls` that need no server: the search plan (groups.GroupSearch)
against simulated servers that choose the way OpenSSL does, the curve of an ECDSA certificate, the RFC 7919
primes, the ServerKeyExchange and Certificate reading, the findings and the table.

The simulation carries what the real servers showed (tests/test_tls_groups.py against Postfix, cross-checked
with `openssl s_client -groups`): at TLS 1.2 an OpenSSL server with an ECDSA certificate refuses every hello
whose supported_groups leaves out the certificate's curve (RFC 8422 §4), and picks a group in the client's
order, or in its own with SSL_OP_CIPHER_SERVER_PREFERENCE (Postfix: tls_preempt_cipherlist = yes)."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess

import pytest

from smtpprobe.tlsscan import findings, render
from smtpprobe.tlsscan import groups as g
from smtpprobe.tlsscan.hello import TLS12, FlightParser
from smtpprobe.tlsscan.scan import ScanResult

P256, P384, P521, X25519, X448 = 23, 24, 25, 29, 30
CANDIDATES = list(g.EC)


def openssl_like(accepts: list[int], order: str, cert: int | None = None):
    """A server's choice of group for an offer: None (a refusal) when the offer leaves out its ECDSA
    certificate's curve or shares no group; else the first shared one in the client's or its own order."""

    def choose(offer: list[int]) -> int | None:
        if cert is not None and cert not in offer:
            return None
        shared = [x for x in (offer if order == "client" else accepts) if x in accepts and x in offer]
        return shared[0] if shared else None

    return choose


def run(search: g.GroupSearch, choose, cert: int | None = None) -> int:
    """Ask until done, as kex._curves does (the anchor is learnt from the first answer's certificate)."""
    asked = 0
    while not search.done:
        assert asked <= len(CANDIDATES) + 2, "unbounded"
        search.answer(choose(search.offer()))
        asked += 1
        if search.anchor is None and cert is not None:
            search.anchor = cert
    return asked


@pytest.mark.parametrize("order", ["client", "server"])
def test_without_a_certificate_curve_every_group_is_found_with_one_refusal_more(order):
    accepts = [X25519, X448, P256, P521, P384]  # Postfix's default tls_eecdh_auto_curves
    search = g.GroupSearch(CANDIDATES)
    assert run(search, openssl_like(accepts, order)) == len(accepts) + 1
    assert sorted(search.found) == sorted(accepts) and search.complete and search.ignored is None
    if order == "server":
        assert search.found == accepts  # the order found is the server's own


def test_ecdsa_certificate_in_client_order_one_order_question_proves_the_list_complete():
    accepts = [X25519, X448, P256, P521, P384]
    search = g.GroupSearch(CANDIDATES)
    asked = run(search, openssl_like(accepts, "client", cert=P256), cert=P256)
    assert sorted(search.found) == sorted(accepts) and search.complete
    assert asked == len(accepts) + 2  # the anchor picked while others remained, then the order question


def test_ecdsa_certificate_in_server_order_hides_the_groups_it_ranks_lower():
    accepts = [X25519, X448, P256, P521, P384]
    search = g.GroupSearch(CANDIDATES)
    asked = run(search, openssl_like(accepts, "server", cert=P256), cert=P256)
    assert search.found == [X25519, X448, P256] and not search.complete and asked == 4


def test_certificate_curve_the_server_does_not_accept_for_ecdhe():
    accepts = [P384, X448]  # tls_eecdh_auto_curves = secp384r1 X448, with the bed's P-256 certificate
    for order in ("client", "server"):
        search = g.GroupSearch(CANDIDATES)
        asked = run(search, openssl_like(accepts, order, cert=P256), cert=P256)
        assert sorted(search.found) == sorted(accepts) and search.complete and asked == 3


def test_a_server_that_ignores_the_offer_is_caught_at_once():
    search = g.GroupSearch(CANDIDATES)
    assert run(search, lambda offer: P256) == 2
    assert search.found == [P256] and search.ignored == P256


def test_any_server_is_asked_a_bounded_number_of_times():
    rng = random.Random(7)
    for _ in range(200):
        accepts = rng.sample(CANDIDATES, rng.randint(0, 8))
        cert = rng.choice([None, P256, P384, *accepts[:1]])
        order = rng.choice(["client", "server"])
        search = g.GroupSearch(CANDIDATES)
        asked = run(search, openssl_like(accepts, order, cert), cert)
        assert asked <= len(accepts) + 2 and set(search.found) <= set(accepts)
        if search.complete:  # complete means complete
            assert set(search.found) == set(accepts)


def test_weak_and_deprecated_curves_and_key_exchange_kinds():
    assert g.weak("secp192r1") and g.weak("sect163k1") and not g.weak("secp224r1") and not g.weak("x25519")
    assert not g.weak("ffdhe2048") and g.deprecated("secp256k1") and not g.deprecated("secp256r1")
    assert g.key_exchange("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") == "ecdhe"
    assert g.key_exchange("TLS_ECDH_anon_WITH_AES_128_CBC_SHA") == "ecdhe"
    assert g.key_exchange("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256") == "dhe"
    assert g.key_exchange("TLS_DH_anon_WITH_AES_128_CBC_SHA") == "dhe"
    for none in (
        "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
        "TLS_DHE_PSK_WITH_AES_128_CBC_SHA",
        "TLS_AES_128_GCM_SHA256",
    ):
        assert g.key_exchange(none) is None


def _der_prime(pem: str) -> bytes:
    """The prime of a PEM DHParameter (SEQUENCE { INTEGER p, INTEGER g }), read without a DH library."""
    import base64

    der = base64.b64decode("".join(line for line in pem.splitlines() if "-----" not in line))
    pos = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)  # past the SEQUENCE header
    n = der[pos + 1]
    length, start = (int.from_bytes(der[pos + 2 : pos + 2 + (n & 0x7F)], "big"), pos + 2 + (n & 0x7F))
    return der[start : start + length].lstrip(b"\x00")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_rfc7919_primes_are_recognised_as_openssl_generates_them():
    for code, (name, _) in g.FFDHE.items():
        pem = subprocess.run(
            ["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", f"group:{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        prime = _der_prime(pem)
        assert len(prime) * 8 == int(name[5:]) and g.ffdhe(prime) == code
    assert g.ffdhe(b"\xff" * 128) == g.OWN_PRIME and g.ffdhe(None) == g.OWN_PRIME


def _certificate(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    from tests.servers._certs import self_signed

    return self_signed(key, "mx.example.org", days=1).public_bytes(serialization.Encoding.DER)


def test_certificate_curve():
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    assert g.certificate_curve(_certificate(ec.generate_private_key(ec.SECP256R1()))) == P256
    assert g.certificate_curve(_certificate(ec.generate_private_key(ec.SECP384R1()))) == P384
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert g.certificate_curve(_certificate(rsa_key)) is None
    assert g.certificate_curve(b"\x30\x03not DER") is None and g.certificate_curve(None) is None


def _record(kind: int, body: bytes) -> bytes:
    message = bytes([kind]) + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(message)) + message


def _hello(suite: int) -> bytes:
    return _record(2, struct.pack("!H", TLS12) + b"\x01" * 32 + b"\x00" + struct.pack("!HB", suite, 0))


def test_flight_keeps_the_leaf_and_reads_the_key_exchange_by_the_suite():
    leaf = b"0\x82leaf-der"
    chain = len(leaf).to_bytes(3, "big") + leaf + (3).to_bytes(3, "big") + b"ca!"
    certificate = _record(11, len(chain).to_bytes(3, "big") + chain)
    ecdhe = _record(12, b"\x03\x00\x1d\x20" + b"\x00" * 32)
    flight = FlightParser(want_key_exchange=True).feed(_hello(0xC02B) + certificate + ecdhe)
    assert flight.leaf == leaf and flight.group == X25519 and flight.dh_prime is None
    prime = b"\xff" + b"\x01" * 767  # 6144 bits: its length field 0x0300 starts with 3, like ECParameters
    dhe = _record(12, struct.pack("!H", len(prime)) + prime + b"\x00\x01\x02\x00\x01\x05")
    flight = FlightParser(want_key_exchange=True).feed(_hello(0x009E) + certificate + dhe)
    assert flight.group is None and flight.dh_bits == 6144 and flight.dh_prime == prime


def _result(groups: list[str], by_version: dict | None = None, dh_bits: int | None = None) -> ScanResult:
    result = ScanResult("127.0.0.1", 25, True, "mx.example.org")
    result.groups, result.groups_by_version, result.dh_bits = groups, by_version or {}, dh_bits
    return result


def test_group_findings_fail_on_curves_under_224_bits_and_note_deprecated_ones():
    assert findings.groups(_result(["x25519", "secp256r1", "ffdhe2048"])) == []
    mixed = findings.groups(_result(["x25519", "secp192r1", "secp256k1"]))
    assert [(f.severity, f.topic) for f in mixed] == [("fail", "ciphers"), ("info", "ciphers")]
    assert mixed[0].text.startswith("ECDHE accepts under 224 bits: secp192r1")
    assert mixed[0].reference.startswith("RFC 9325 §4.5") and "RFC 8422 §5.1.1" in mixed[0].reference
    assert "secp256k1" in mixed[1].text
    only = findings.groups(_result(["secp160r1", "secp192r1"]))
    assert only[0].text.startswith("the only curves accepted for ECDHE are under 224 bits")


def test_table_shows_the_groups_per_version_with_notes_and_dhe():
    result = _result(
        ["x25519", "secp256r1"],
        {
            "TLSv1.2": {
                "groups": ["x25519", "secp256r1"],
                "note": "groups the server ranks below secp256r1 ... cannot be asked",
                "dhe": {"negotiated": False, "prime": None},
            },
            "TLSv1.3": {"groups": ["x25519", "secp256r1"], "note": None},
        },
        dh_bits=1024,
    )
    text = render.text(result, "mx", [])
    assert "Key exchange groups (in the order found)\n  TLSv1.2  x25519, secp256r1\n" in text
    assert (
        "           DHE: the server's own prime, whatever the client offers (no RFC 7919 negotiation); "
        in text
    )
    assert "smallest DH prime 1024 bits" in text and "           (groups the server ranks below" in text
    assert "  TLSv1.3  x25519, secp256r1\n" in text
    fixed = {"TLSv1.2": {"groups": [], "note": None, "dhe": {"negotiated": False, "prime": "ffdhe3072"}}}
    assert "DHE: always ffdhe3072, whatever the client offers" in render.text(_result([], fixed), "mx", [])
    assert "Key exchange groups: (none seen)" in render.text(_result([]), "mx", [])
