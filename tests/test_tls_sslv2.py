"""The SSLv2 question of `smtpprobe tls` against a real Postfix: refused, and refused for the reason the
server's own bytes give.

Debian's OpenSSL 3 has no SSLv2 at all (removed in OpenSSL 1.1.0; `openssl s_client` has no `-ssl2`), so
no server here can accept it: the accepting path is tested on hand-built SERVER-HELLOs
(tests/unit/test_tlsscan_sslv2.py) and a socket that speaks them (tests/test_tls_hostile.py). What a real
server does with an SSLv2 CLIENT-HELLO is checked here independently of the scan's parser: the same bytes
sent over a plain socket, and whatever comes back (an alert, a TLS record, a hang-up) read raw."""

from __future__ import annotations

import socket
import time

from smtpprobe.tlsscan import sslv2
from smtpprobe.tlsscan.hello import ALERTS
from smtpprobe.tlsscan.probe import Endpoint, connect
from tests.test_tls_postfix import WEAK, scan


def raw_answer(port: int, starttls: bool) -> bytes:
    """Everything the server sends back to an SSLv2 CLIENT-HELLO until it hangs up (3 s at most)."""
    sock = connect(Endpoint("127.0.0.1", port, starttls))
    try:
        sock.sendall(sslv2.client_hello())
        sock.settimeout(3)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return data


def expected_note(raw: bytes) -> str:
    """The scan's words for these bytes, derived without its parser."""
    if raw[:1] == b"\x15" and raw[1:2] == b"\x03" and len(raw) >= 7:
        return f"TLS alert {ALERTS.get(raw[6], raw[6])}"
    if not raw:
        return "the server closed the connection"
    return "(another answer)"


def test_postfix_refuses_sslv2_and_the_scan_says_what_it_sent(postfix_factory):
    inst = postfix_factory("strict", WEAK)  # the most permissive bed: security level 0, TLS 1.0 up
    for port, options in ((inst.smtps_port, ["--tls-on-connect"]), (inst.smtp_port, [])):
        started = time.monotonic()
        _, report = scan(port, "--timeout", "5", *options)
        assert time.monotonic() - started < 20
        v2 = next(v for v in report["versions"] if v["version"] == "SSLv2")
        assert v2["accepted"] is False and v2["suites"] == []
        raw = raw_answer(port, starttls=not options)
        assert raw == b"\x15\x03\x03\x00\x02\x02\x46", raw  # OpenSSL 3: a fatal protocol_version alert
        assert v2["note"] == expected_note(raw) == "TLS alert protocol_version"
        assert not [f for f in report["findings"] if "SSLv2" in f["text"]]


def test_sslv2_question_is_one_connection(postfix_factory, monkeypatch):
    """One extra connection per scan: counted where every question opens its socket."""
    import json

    from smtpprobe.tlsscan import scan as scan_module

    inst = postfix_factory("strict", WEAK)
    hellos: list[bytes] = []
    original = socket.socket.sendall

    def sendall(self, data, *args):
        hellos.append(bytes(data[:3]))
        return original(self, data, *args)

    monkeypatch.setattr(socket.socket, "sendall", sendall)
    result = scan_module.scan(Endpoint("127.0.0.1", inst.smtps_port, starttls=False), None)
    v2 = [h for h in hellos if h[0] & 0x80 and h[2] == 1]  # a two-byte SSLv2 header, then CLIENT-HELLO
    assert len(v2) == 1, hellos
    assert json.dumps(result.to_dict())  # the result stays JSON
