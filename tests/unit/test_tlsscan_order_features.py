"""The pure parts of the server-order, renegotiation, compression and heartbeat checks of `smtpprobe tls`:
ClientHello bytes, ServerHello parsing, the pair of suites asked about, verdicts, findings and the table.

The paths a real server of the test bed cannot show are here only, on hand-built ServerHellos: every TLS
server here uses Debian's OpenSSL 3, which always answers renegotiation_info (RFC 5746 support has no switch),
cannot compress (built without zlib: `openssl list -disabled` names ZLIB) and has no heartbeat (removed for
TLS in OpenSSL 1.1.0). tests/test_tls_order_features.py checks the real servers' side."""

from __future__ import annotations

import struct

from smtpprobe.tlsscan import findings, preference, render
from smtpprobe.tlsscan.features import read
from smtpprobe.tlsscan.hello import (
    EXT_HEARTBEAT,
    EXT_RENEGOTIATION,
    RENEGOTIATION_SCSV,
    SSL3,
    TLS12,
    TLS13,
    FlightParser,
    client_hello,
)
from smtpprobe.tlsscan.scan import ScanResult, VersionResult

GCM, CBC, RSA = 0xC02B, 0xC009, 0x002F  # ECDHE-ECDSA AES128-GCM (strong), ECDHE-ECDSA AES128-CBC, RSA AES128


def _server_hello(suite: int, compression: int = 0, exts: bytes = b"", version: int = TLS12) -> bytes:
    body = struct.pack("!H", version) + b"\x01" * 32 + b"\x00" + struct.pack("!HB", suite, compression)
    body += struct.pack("!H", len(exts)) + exts if exts else b""
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(message)) + message


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def _hello_fields(record: bytes) -> tuple[list[int], bytes, bytes]:
    """(suites, compression methods, extensions block) of one ClientHello record."""
    body = record[9:]
    pos = 35 + body[34]
    n = struct.unpack("!H", body[pos : pos + 2])[0]
    suites = [struct.unpack("!H", body[i : i + 2])[0] for i in range(pos + 2, pos + 2 + n, 2)]
    pos += 2 + n
    methods = body[pos + 1 : pos + 1 + body[pos]]
    return suites, methods, body[pos + 1 + body[pos] :]


def test_features_hello_offers_deflate_heartbeat_and_renegotiation_info():
    suites, methods, exts = _hello_fields(client_hello(TLS12, [GCM], "mx.example.org", features=True))
    assert suites == [GCM] and methods == b"\x01\x00"  # DEFLATE first, then null
    assert _ext(EXT_HEARTBEAT, b"\x02") in exts  # peer_not_allowed_to_send: we never answer a heartbeat
    assert _ext(EXT_RENEGOTIATION, b"\x00") in exts
    _, methods, exts = _hello_fields(client_hello(TLS12, [GCM], "mx.example.org"))
    assert methods == b"\x00" and _ext(EXT_HEARTBEAT, b"\x02") not in exts  # enumeration hellos unchanged
    _, methods, exts = _hello_fields(client_hello(TLS13, [0x1301], "mx.example.org", features=True))
    assert methods == b"\x00" and _ext(EXT_HEARTBEAT, b"\x02") not in exts  # RFC 8446 §4.1.2: null only
    ssl3, methods, exts = _hello_fields(client_hello(SSL3, [0x000A], features=True))
    assert ssl3 == [0x000A, RENEGOTIATION_SCSV] and methods == b"\x01\x00" and exts == b""


def test_server_hello_with_everything_the_bed_cannot_show():
    exts = _ext(EXT_RENEGOTIATION, b"\x00") + _ext(EXT_HEARTBEAT, b"\x01")
    flight = FlightParser().feed(_server_hello(GCM, compression=1, exts=exts))
    assert flight.hello.compression == 1 and flight.hello.extensions == [EXT_RENEGOTIATION, EXT_HEARTBEAT]
    assert read(flight, TLS12) == {
        "asked_with": "TLSv1.2",
        "secure_renegotiation": True,
        "compression": "DEFLATE",
        "heartbeat": True,
    }
    bare = read(FlightParser().feed(_server_hello(GCM)), TLS12)  # no extensions block at all
    assert bare["secure_renegotiation"] is False and bare["compression"] == "null" and not bare["heartbeat"]
    refused = read(FlightParser().feed(b"\x15\x03\x03\x00\x02\x02\x28"), TLS12)
    assert refused == {
        "asked_with": "TLSv1.2",
        "error": "the server did not answer the TLSv1.2 hello (alert handshake_failure)",
    }


def _result(features: dict | None = None, **versions: VersionResult) -> ScanResult:
    result = ScanResult("127.0.0.1", 25, True, "mx.example.org", list(versions.values()))
    result.features = features if features is not None else {}
    return result


def test_feature_findings_fail_on_missing_renegotiation_info_and_on_compression():
    good = {"asked_with": "TLSv1.2", "secure_renegotiation": True, "compression": "null", "heartbeat": False}
    assert findings.features(_result(good)) == [] and findings.features(_result({})) == []
    bad = dict(good, secure_renegotiation=False, compression="DEFLATE", heartbeat=True)
    found = findings.features(_result(bad))
    assert [(f.severity, f.topic) for f in found] == [("fail", "features")] * 2 + [("info", "features")]
    assert "renegotiation_info" in found[0].text and found[0].reference.startswith("RFC 5746 §3.6")
    assert "RFC 9325 §3.5" in found[0].reference
    assert "DEFLATE" in found[1].text and found[1].reference.startswith("RFC 9325 §3.3")
    assert "not probed" in found[2].text and found[2].reference == "RFC 6520 §2"
    unknown = findings.features(_result({"asked_with": "TLSv1.2", "error": "connection reset"}))
    assert [(f.severity, "connection reset" in f.text) for f in unknown] == [("info", True)]


def _suite(code: int, name: str, grade: str) -> dict:
    return {"code": code, "name": name, "grade": grade, "flags": []}


STRONG = _suite(GCM, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "strong")
CHACHA = _suite(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "strong")
ACCEPTABLE = _suite(CBC, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "acceptable")
WEAK = _suite(RSA, "TLS_RSA_WITH_AES_128_CBC_SHA", "weak")


def test_the_pair_asked_is_weakest_then_strongest_without_chacha():
    assert preference.pair([CHACHA, STRONG, ACCEPTABLE, WEAK]) == (RSA, GCM)
    assert preference.pair([STRONG, CHACHA]) == (0xCCA9, GCM)  # only two: ChaCha20 it is
    assert preference.pair([STRONG, _suite(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "strong")]) == (
        0xC02C,
        GCM,
    )  # alike: the server's second pick first, so a server order answers with its first both times
    assert preference.pair([STRONG]) is None and preference.pair([]) is None


def test_order_verdicts():
    assert preference.verdict((RSA, GCM), GCM, GCM) == preference.SERVER
    assert preference.verdict((RSA, GCM), RSA, RSA) == preference.SERVER  # its own order, weak first
    assert preference.verdict((RSA, GCM), RSA, GCM) == preference.CLIENT
    assert preference.verdict((RSA, GCM), GCM, RSA) is None  # the last offered both times: neither
    assert preference.verdict((RSA, GCM), None, GCM) is None  # refused once


def _version(name: str, order: str, suites: list[dict], chosen: list[str] | None = None) -> VersionResult:
    v = VersionResult(name, True, suites)
    v.order = order
    if chosen:
        v.order_evidence = {"offered": [suites[-1]["name"], suites[0]["name"]], "chosen": chosen}
    return v


def test_order_findings_warn_on_client_order_with_weaker_suites_and_on_a_weak_own_order():
    mixed = [STRONG, WEAK]
    client = _version("TLSv1.2", "client", mixed, [WEAK["name"], STRONG["name"]])
    found = findings.order(_result(v=client))
    assert [(f.severity, f.topic) for f in found] == [("warn", "ciphers")]
    assert "client's cipher order on TLSv1.2" in found[0].text and WEAK["name"] in found[0].text
    assert found[0].reference.startswith("RFC 9325 §4.2.1")
    only_strong = _version("TLSv1.2", "client", [STRONG, CHACHA], [CHACHA["name"], STRONG["name"]])
    assert findings.order(_result(v=only_strong)) == []
    server = _version("TLSv1.2", "server", mixed, [STRONG["name"], STRONG["name"]])
    tls13 = _version("TLSv1.3", "not applicable", [STRONG])
    assert findings.order(_result(v=server, w=tls13)) == []
    weak_own = _version("TLSv1.2", "server", mixed, [WEAK["name"], WEAK["name"]])
    assert "prefers a weaker suite" in findings.order(_result(v=weak_own))[0].text


def test_table_shows_whose_order_per_version_and_the_features():
    one = _version("TLSv1.1", "not applicable", [WEAK])
    unknown = _version("TLSv1.0", None, [WEAK, STRONG])
    unknown.order_evidence = {"error": "connection reset"}
    result = _result(
        {"asked_with": "TLSv1.2", "secure_renegotiation": False, "compression": "null", "heartbeat": False},
        a=unknown,
        b=one,
        c=_version("TLSv1.2", "server", [STRONG, WEAK], [STRONG["name"]] * 2),
        d=_version("TLSv1.3", "not applicable", [STRONG]),
    )
    text = render.text(result, "mx", [])
    assert "  TLSv1.0  accepted  order unknown (connection reset)" in text
    assert "  TLSv1.1  accepted  order n/a (one suite)" in text
    assert "  TLSv1.2  accepted  server order" in text and "  TLSv1.3  accepted  order n/a (TLS 1.3)" in text
    assert "  secure renegotiation  NO" in text and "  compression           null" in text
    assert "not asked (no version below TLS 1.3 accepted)" in render.text(_result({}), "mx", [])
