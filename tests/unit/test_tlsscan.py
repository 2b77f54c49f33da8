"""The pure parts of `smtpprobe tls`: ClientHello bytes, server-flight parsing (fragmented, hostile), suite
grades, name matching (RFC 6125), MTA-STS policy syntax and MX patterns (RFC 8461), DANE matching."""

from __future__ import annotations

import hashlib
import struct

import pytest

from smtpprobe import tls
from smtpprobe.tlsscan import dane, grade, mtasts
from smtpprobe.tlsscan.hello import (
    HRR_RANDOM,
    MAX_FLIGHT,
    SSL3,
    TLS10,
    TLS12,
    TLS13,
    FlightParser,
    client_hello,
)


def _server_hello(version: int, suite: int, random: bytes = b"\x01" * 32, exts: bytes = b"") -> bytes:
    body = (
        struct.pack("!H", TLS12 if version >= TLS13 else version)
        + random
        + b"\x00"
        + struct.pack("!H", suite)
    )
    body += b"\x00" + (struct.pack("!H", len(exts)) + exts if exts else b"")
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(message)) + message


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def test_client_hello_offers_exactly_the_version_and_suites_asked():
    hello = client_hello(TLS10, [0x002F, 0x0035], "mx.example.org")
    assert hello[0] == 22 and hello[1:3] == b"\x03\x01"
    body = hello[9:]
    assert body[:2] == b"\x03\x01"  # client_version TLS 1.0
    sid_len = body[34]
    suites_len = struct.unpack("!H", body[35 + sid_len : 37 + sid_len])[0]
    assert body[37 + sid_len : 37 + sid_len + suites_len] == b"\x00\x2f\x00\x35"
    assert b"mx.example.org" in hello
    assert b"\x00\x2b\x00\x03\x02\x03\x04" not in hello  # no supported_versions below TLS 1.3
    assert client_hello(SSL3, [0x000A])[1:3] == b"\x03\x00"
    assert b"127.0.0.1" not in client_hello(TLS12, [0x002F], "127.0.0.1")  # no SNI for an address


def test_tls13_hello_asks_with_supported_versions_and_can_leave_key_share_empty():
    with_share = client_hello(TLS13, [0x1301], "mx.example.org")
    empty = client_hello(TLS13, [0x1301], "mx.example.org", key_share=False)
    assert b"\x00\x2b\x00\x03\x02\x03\x04" in with_share  # supported_versions: TLS 1.3 only
    assert b"\x00\x33\x00\x02\x00\x00" in empty  # key_share with an empty list
    assert len(with_share) == len(empty) + 36  # group, length and the 32-byte X25519 share


def test_server_hello_fed_byte_by_byte():
    data = _server_hello(TLS12, 0xC02F) + b"\x16\x03\x03\x00\x04\x0e\x00\x00\x00"  # ServerHelloDone
    parser = FlightParser(want_key_exchange=True)
    for i in range(len(data)):
        flight = parser.feed(data[i : i + 1])
    assert flight.done and flight.hello.suite == 0xC02F and flight.hello.version == TLS12


def test_tls13_server_hello_and_hello_retry_request():
    exts = _ext(43, b"\x03\x04") + _ext(51, b"\x00\x17")
    hrr = FlightParser().feed(_server_hello(TLS13, 0x1302, HRR_RANDOM, exts))
    assert hrr.hello.retry and hrr.hello.version == TLS13 and hrr.hello.group == 23
    normal = FlightParser().feed(_server_hello(TLS13, 0x1301, exts=_ext(43, b"\x03\x04")))
    assert not normal.hello.retry and normal.hello.version == TLS13 and normal.done


def test_key_exchange_group_and_dh_size():
    ske = b"\x03\x00\x1d\x20" + b"\x00" * 32
    message = b"\x0c" + len(ske).to_bytes(3, "big") + ske
    data = _server_hello(TLS12, 0xC02F) + b"\x16\x03\x03" + struct.pack("!H", len(message)) + message
    assert FlightParser(want_key_exchange=True).feed(data).group == 29
    prime = b"\xff" * 128  # 1024 bits
    ske = struct.pack("!H", len(prime)) + prime + b"\x00\x01\x02"
    message = b"\x0c" + len(ske).to_bytes(3, "big") + ske
    data = _server_hello(TLS12, 0x009E) + b"\x16\x03\x03" + struct.pack("!H", len(message)) + message
    assert FlightParser(want_key_exchange=True).feed(data).dh_bits == 1024
    prime = b"\xff" + b"\x01" * 767  # 6144 bits: its length 0x0300 starts with 3, like a named_curve
    ske = struct.pack("!H", len(prime)) + prime + b"\x00\x01\x02\x00\x01\x05"
    message = b"\x0c" + len(ske).to_bytes(3, "big") + ske
    data = _server_hello(TLS12, 0x009E) + b"\x16\x03\x03" + struct.pack("!H", len(message)) + message
    flight = FlightParser(want_key_exchange=True).feed(data)
    assert (flight.group, flight.dh_bits) == (None, 6144)


def test_alert_not_tls_malformed_and_oversized():
    assert FlightParser().feed(b"\x15\x03\x01\x00\x02\x02\x46").alert == (2, 70)
    assert "not a TLS answer" in FlightParser().feed(b"220 mx.example.org ESMTP\r\n").error
    bad = b"\x16\x03\x03\x00\x05\x02\x00\x00\x01\x03"  # a ServerHello of one byte
    assert "malformed" in FlightParser().feed(bad).error
    parser = FlightParser()
    for _ in range(MAX_FLIGHT // 16000 + 2):
        flight = parser.feed(b"\x16\x03\x03\x47\xff" + b"\x00" * 16000)
    assert flight.done and "64 KiB" in flight.error


@pytest.mark.parametrize(
    ("name", "expected_grade", "flag"),
    [
        ("TLS_DH_anon_WITH_AES_128_GCM_SHA256", "insecure", "anonymous"),
        ("TLS_ECDH_anon_WITH_NULL_SHA", "insecure", "NULL"),
        ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", "insecure", "EXPORT"),
        ("TLS_RSA_WITH_DES_CBC_SHA", "insecure", "DES"),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "weak", "3DES"),
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", "weak", "no forward secrecy"),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "acceptable", "CBC"),
        ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "strong", None),
        ("TLS_AES_256_GCM_SHA384", "strong", None),
    ],
)
def test_suite_grades(name, expected_grade, flag):
    assert grade.suite_grade(name) == expected_grade
    assert (flag in grade.suite_flags(name)) if flag else grade.suite_flags(name) == []


def test_anonymous_suites_fail_where_clients_authenticate_and_warn_on_mx():
    assert grade.anonymous_severity("mx") == "warn"
    assert grade.anonymous_severity("submission") == grade.anonymous_severity("smtps") == "fail"


@pytest.mark.parametrize(
    ("name", "sans", "ok"),
    [
        ("mx.example.org", ["*.example.org"], True),
        ("MX.Example.ORG.", ["*.example.org"], True),
        ("example.org", ["*.example.org"], False),
        ("a.b.example.org", ["*.example.org"], False),
        ("mx.example.org", ["mx*.example.org"], False),
        ("mx.example.org", ["*.*.org"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("[::1]", ["::1"], True),
        ("127.0.0.1", ["*.0.0.1"], False),
        ("mx.example.org", [], False),
    ],
)
def test_name_matching_rfc6125(name, sans, ok):
    assert tls.name_matches(name, sans) is ok


def test_hostile_text_is_escaped_and_bounded():
    assert tls.printable("\x1b[31mred") == "\\x1b[31mred"
    assert tls.names_shown([f"h{i}" for i in range(3000)]).endswith("and 2990 more")
    assert len(tls.printable("x" * 10_000)) < 300


def test_mta_sts_policy_syntax_and_mx_patterns():
    policy = mtasts.parse_policy(
        "version: STSv1\r\nmode: enforce\r\nmx: *.mail.example.org\nmax_age: 604800\n"
    )
    assert (policy.mode, policy.mx, policy.max_age, policy.errors) == (
        "enforce",
        ["*.mail.example.org"],
        604800,
        [],
    )
    assert mtasts.mx_matches("mx1.mail.example.org", policy.mx)
    assert not mtasts.mx_matches("mail.example.org", policy.mx)  # the wildcard is one label, never zero
    assert not mtasts.mx_matches("a.b.mail.example.org", policy.mx)
    bad = mtasts.parse_policy("version: STSv2\nmode: strict\nmax_age: 99999999999\n")
    assert len(bad.errors) == 4
    assert mtasts.parse_txt("v=STSv1; id=20261128", "STSv1")[1] == []
    assert mtasts.parse_txt("v=STSv1; id=has-dash", "STSv1")[1] == ["id= must be 1 to 32 letters or digits"]
    assert (
        mtasts.parse_txt("v=TLSRPTv1; rua=mailto:r@example.org,https://r.example.org/x", "TLSRPTv1")[1] == []
    )
    assert mtasts.parse_txt("v=TLSRPTv1; rua=r@example.org", "TLSRPTv1")[1][0].startswith("rua= must be")


def test_dane_matching_usages_selectors_and_types():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.servers._certs import self_signed

    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed(key, "mx.example.org", days=1)
    der = cert.public_bytes(serialization.Encoding.DER)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert dane.matches(dane.Tlsa(3, 1, 1, hashlib.sha256(spki).digest()), [der])
    assert dane.matches(dane.Tlsa(3, 0, 2, hashlib.sha512(der).digest()), [der])
    assert dane.matches(dane.Tlsa(3, 0, 0, der), [der])
    assert not dane.matches(dane.Tlsa(3, 1, 1, b"\x00" * 32), [der])  # stale
    assert not dane.matches(dane.Tlsa(1, 1, 1, hashlib.sha256(spki).digest()), [der])  # PKIX-EE: unusable
    assert not dane.matches(dane.Tlsa(2, 1, 1, hashlib.sha256(spki).digest()), [der])  # TA is not the leaf
    assert dane.matches(dane.Tlsa(2, 1, 1, hashlib.sha256(spki).digest()), [b"leaf", der])
