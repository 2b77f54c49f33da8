"""`smtpprobe tls` against servers that misbehave: silence, no STARTTLS, garbage or an endless stream
instead of a ServerHello, a ServerHello that ignores what was offered, a trickle. Each ends within its bound,
with one clear line or a report, never a traceback."""

from __future__ import annotations

import json
import os
import struct
import time

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe
from tests.servers.hostile import BEHAVIOURS, HostileServer


def _server_hello(suite: int) -> bytes:
    body = b"\x03\x03" + b"\x01" * 32 + b"\x00" + struct.pack("!H", suite) + b"\x00"
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(message)) + message


def _after_hello(reply):
    """An implicit-TLS 'server' that reads the ClientHello's first bytes, then does `reply(conn, stop)`."""

    def behaviour(conn, stop):
        conn.settimeout(10)
        if conn.recv(5):
            reply(conn, stop)

    return behaviour


def _garbage(conn, stop):
    deadline = time.monotonic() + 20
    while not stop.is_set() and time.monotonic() < deadline:
        conn.sendall(os.urandom(4096))


def _endless_handshake_record(conn, stop):
    conn.sendall(b"\x16\x03\x03\x40\x00" + b"\x0b" + (0xFFFFFF).to_bytes(3, "big"))  # a Certificate of 16 MiB
    deadline = time.monotonic() + 20
    while not stop.is_set() and time.monotonic() < deadline:
        conn.sendall(b"\x16\x03\x03\x40\x00" + b"\x00" * 0x4000)


def _trickle(conn, stop):
    for byte in _server_hello(0xC02F):
        if stop.wait(1.0):
            return
        conn.sendall(bytes([byte]))


def _always_the_same_suite(conn, stop):
    conn.sendall(_server_hello(0xC02F))
    stop.wait(2)


def _scan(server: HostileServer, *extra: str):
    started = time.monotonic()
    run = smtpprobe("tls", "--server", f"127.0.0.1:{server.port}", *extra, timeout=60)
    assert "Traceback" not in run.err and "internal error" not in run.err, run.err
    return run, time.monotonic() - started


def test_silent_server_and_no_starttls():
    silent = HostileServer(BEHAVIOURS["never_greets"])
    no_tls = HostileServer(BEHAVIOURS["never_offers_starttls"])
    try:
        run, seconds = _scan(silent, "--timeout", "1")
        assert run.code == Exit.NETWORK and len(run.err_lines) == 1 and "--tls-on-connect" in run.err
        assert seconds < 10
        run, _ = _scan(no_tls, "--timeout", "2")
        assert run.code == Exit.TLS and run.err_lines == [
            "smtpprobe tls: STARTTLS is not offered in the EHLO reply"
        ]
    finally:
        silent.close()
        no_tls.close()


def test_garbage_endless_records_and_trickles_end_within_their_bounds():
    for reply, limit in ((_garbage, 20), (_endless_handshake_record, 20), (_trickle, 20)):
        server = HostileServer(_after_hello(reply))
        try:
            run, seconds = _scan(server, "--tls-on-connect", "--timeout", "1")
        finally:
            server.close()
        assert run.code == Exit.FAILED, (reply.__name__, run.out, run.err)
        assert "no TLS version was accepted" in run.out, (reply.__name__, run.out)
        assert "  SSLv2    refused" in run.out, (reply.__name__, run.out)
        assert seconds < limit, (reply.__name__, seconds)
        assert "\x1b" not in run.out


def test_a_server_that_ignores_the_offer_is_not_believed():
    server = HostileServer(_after_hello(_always_the_same_suite))
    try:
        run, seconds = _scan(server, "--tls-on-connect", "--timeout", "2", "--format", "json")
    finally:
        server.close()
    report = json.loads(run.out)
    for v in report["versions"]:
        # it answers TLS 1.2 whatever is asked, and the same suite once removed from the offer
        assert [s["name"] for s in v["suites"]] == (
            ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"] if v["version"] == "TLSv1.2" else []
        ), v
    assert seconds < 30


def _speaks_sslv2(server_hello: bytes):
    """A 'server' that answers an SSLv2 CLIENT-HELLO (two-byte header, message type 1) with `server_hello`
    and hangs up on anything else: what no OpenSSL 3 server can do any more."""

    def behaviour(conn, stop):
        conn.settimeout(10)
        first = conn.recv(3)
        if len(first) == 3 and first[0] & 0x80 and first[2] == 1:
            conn.sendall(server_hello)
            stop.wait(1)

    return behaviour


def test_an_sslv2_server_is_found_and_fails_and_odd_sslv2_answers_are_refusals():
    from tests.unit.test_tlsscan_sslv2 import server_hello

    server = HostileServer(_speaks_sslv2(server_hello()))
    try:
        run, seconds = _scan(server, "--tls-on-connect", "--timeout", "2", "--format", "json")
    finally:
        server.close()
    assert run.code == Exit.FAILED and seconds < 30
    report = json.loads(run.out)
    v2 = next(v for v in report["versions"] if v["version"] == "SSLv2")
    assert v2["accepted"] and [s["name"] for s in v2["suites"]] == [
        "SSL_CK_RC4_128_WITH_MD5",
        "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
    ]
    failed = [f for f in report["findings"] if f["text"].startswith("SSLv2 accepted")]
    assert failed and failed[0]["severity"] == "fail" and failed[0]["reference"].startswith("RFC 6176 §3")
    odd = (
        server_hello(version=0x0300),  # says SERVER-HELLO, is not SSLv2
        b"\xff\xff" + b"\x04" * 100,  # announces 32767 bytes, sends 100 and waits
        b"\x80\x03\x00\x00\x01",  # an SSLv2 ERROR: NO-CIPHER
    )
    for answer in odd:
        server = HostileServer(_speaks_sslv2(answer))
        try:
            run, seconds = _scan(server, "--tls-on-connect", "--timeout", "1", "--format", "json")
        finally:
            server.close()
        v2 = next(v for v in json.loads(run.out)["versions"] if v["version"] == "SSLv2")
        assert not v2["accepted"] and v2["note"], (answer[:4], v2)
        assert seconds < 20, (answer[:4], seconds)


def _record(kind: int, body: bytes) -> bytes:
    message = bytes([kind]) + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(message)) + message


def _same_curve_whatever_is_offered(conn, stop):
    """TLS 1.2 ECDHE_ECDSA with a Certificate of junk and secp256r1 in every ServerKeyExchange."""
    hello = struct.pack("!H", 0x0303) + b"\x01" * 32 + b"\x00" + struct.pack("!HB", 0xC02B, 0)
    junk = b"\x30\x03junk"
    chain = len(junk).to_bytes(3, "big") + junk
    conn.sendall(
        _record(2, hello)
        + _record(11, len(chain).to_bytes(3, "big") + chain)
        + _record(12, b"\x03\x00\x17\x41" + b"\x04" * 65)
        + _record(14, b"")
    )
    stop.wait(1)


def test_a_server_that_ignores_the_offered_curves_is_caught():
    server = HostileServer(_after_hello(_same_curve_whatever_is_offered))
    try:
        run, seconds = _scan(server, "--tls-on-connect", "--timeout", "2", "--format", "json")
    finally:
        server.close()
    report = json.loads(run.out)
    tls12 = report["groups_by_version"]["TLSv1.2"]
    assert tls12["groups"] == ["secp256r1"] and "was not offered" in tls12["note"], tls12
    assert seconds < 30
