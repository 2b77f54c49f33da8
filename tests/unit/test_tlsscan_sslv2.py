"""The SSLv2 question of `smtpprobe tls` (smtpprobe/tlsscan/sslv2.py): the CLIENT-HELLO's bytes, and every
kind of answer, read without a socket.

The SERVER-HELLOs here are built by hand from the SSL 2.0 specification (draft-hickman-netscape-ssl-00,
§2.6; record header §1.1) because no server on the test bed can send one: OpenSSL removed SSLv2 in 1.1.0
(Debian's OpenSSL 3 has no `-ssl2` in s_server or s_client), and every TLS server here (Postfix, Exim,
Dovecot, the lab) is built on it. tests/test_tls_postfix.py checks what a real server answers instead
(a TLS protocol_version alert), tests/test_tls_hostile.py a socket that speaks this hand-built SSLv2."""

from __future__ import annotations

import struct

from smtpprobe.tlsscan import findings, render, sslv2
from smtpprobe.tlsscan.scan import ScanResult, VersionResult

RC4, DES3 = 0x010080, 0x0700C0


def server_hello(
    ciphers=(RC4, DES3), cert=b"0\x82certificate", cid=b"c" * 16, version=2, three=False
) -> bytes:
    """An SSLv2 record holding a SERVER-HELLO (§2.6): type 4, SESSION-ID-HIT 0, CERTIFICATE-TYPE 1 (X.509),
    SERVER-VERSION, the three lengths, then the certificate, the cipher kinds and the connection id."""
    specs = b"".join(k.to_bytes(3, "big") for k in ciphers)
    body = struct.pack("!BBBHHHH", 4, 0, 1, version, len(cert), len(specs), len(cid)) + cert + specs + cid
    if three:  # §1.1: the three-byte header, with a padding count (here 2 bytes of padding)
        return struct.pack("!HB", len(body) + 2, 2) + body + b"\x00\x00"
    return struct.pack("!H", 0x8000 | len(body)) + body


def test_client_hello_is_an_sslv2_record_for_version_2_with_every_cipher_kind():
    hello = sslv2.client_hello()
    length = struct.unpack("!H", hello[:2])[0]
    assert length & 0x8000 and length & 0x7FFF == len(hello) - 2  # §1.1: two-byte header, no padding
    kind, version, specs_len, sid_len, challenge_len = struct.unpack("!BHHHH", hello[2:11])
    assert (kind, version, sid_len, challenge_len) == (1, 2, 0, 16)  # §2.5: 16 <= challenge <= 32
    specs = hello[11 : 11 + specs_len]
    assert [int.from_bytes(specs[i : i + 3], "big") for i in range(0, specs_len, 3)] == list(sslv2.CIPHERS)
    assert len(hello) == 11 + specs_len + 16
    assert sslv2.client_hello()[-16:] != hello[-16:]  # a fresh challenge each time


def test_server_hello_fed_byte_by_byte_is_accepted_with_its_cipher_kinds():
    data = server_hello()
    parser = sslv2.AnswerParser()
    for i in range(len(data)):
        answer = parser.feed(data[i : i + 1])
        assert answer.done == (i == len(data) - 1)
    assert answer.hello is not None and answer.error is None
    assert answer.hello.ciphers == [RC4, DES3] and answer.hello.certificate == b"0\x82certificate"
    three = sslv2.AnswerParser().feed(server_hello(ciphers=(0x060040,), three=True))
    assert three.hello.ciphers == [0x060040]


def test_every_other_answer_is_a_refusal_in_words():
    def answer(data: bytes) -> sslv2.Answer:
        return sslv2.AnswerParser().feed(data)

    assert answer(b"\x15\x03\x01\x00\x02\x02\x46").alert == (2, 70)  # OpenSSL 3: protocol_version
    tls_hello = answer(b"\x16\x03\x03\x00\x30\x02")
    assert tls_hello.hello is None and "a TLS record (type 22)" in tls_hello.error
    error = answer(b"\x80\x03\x00\x00\x01")  # §2.7 ERROR, Appendix C.3 NO-CIPHER
    assert error.done and error.hello is None and error.error == "SSLv2 ERROR NO-CIPHER-ERROR"
    assert "malformed" in answer(server_hello(version=0x0300)).error  # not version 2: not SSLv2
    short = server_hello()[:-1]
    assert "malformed" in answer(struct.pack("!H", 0x8000 | (len(short) - 2)) + short[2:]).error
    assert "type 5" in answer(b"\x80\x02\x05\x00").error  # a SERVER-VERIFY out of turn
    assert "not an SSLv2 answer" in answer(b"HTTP/1.1 400 Bad Request\r\n").error  # 'H': escape bit
    smtp = answer(b"220 mx.example.org ESMTP\r\n")  # reads as a 12850-byte record: waits, then the timeout
    assert not smtp.done and smtp.hello is None
    parser = sslv2.AnswerParser()
    flood = parser.feed(b"\xff\xff" + b"\x00" * 20000)  # a record of 32767 bytes announced...
    assert not flood.done
    flood = parser.feed(b"\x00" * 20000)  # ...and more than that sent at once
    assert flood.done and "more bytes than one SSLv2 record" in flood.error


def test_cipher_kind_names_and_flags():
    assert sslv2.cipher_name(RC4) == "SSL_CK_RC4_128_WITH_MD5" and sslv2.cipher_name(0x123456).endswith(
        "123456"
    )
    assert sslv2.cipher_flags("SSL_CK_RC4_128_EXPORT40_WITH_MD5") == ["EXPORT", "RC4", "no forward secrecy"]
    assert sslv2.cipher_flags("SSL_CK_DES_192_EDE3_CBC_WITH_MD5") == ["3DES", "no forward secrecy"]
    assert sslv2.cipher_flags("SSL_CK_DES_64_CBC_WITH_MD5") == ["DES", "no forward secrecy"]


def _sslv2(accepted: bool, kinds=(RC4,)) -> VersionResult:
    v = VersionResult("SSLv2", accepted, note=None if accepted else "TLS alert protocol_version")
    if accepted:
        v.order = "not applicable"
        for kind in kinds:
            name = sslv2.cipher_name(kind)
            v.suites.append(
                {"code": kind, "name": name, "grade": "insecure", "flags": sslv2.cipher_flags(name)}
            )
    return v


def test_sslv2_accepted_fails_with_rfc6176_and_drown_and_is_not_counted_twice():
    tls12 = VersionResult("TLSv1.2", True, [{"code": 0xC02B, "name": "X", "grade": "strong", "flags": []}])
    result = ScanResult("127.0.0.1", 25, True, "mx.example.org", [_sslv2(True), tls12])
    found = findings.versions(result)
    assert (found[0].severity, found[0].topic) == ("fail", "versions")
    assert "SSL_CK_RC4_128_WITH_MD5" in found[0].text and "DROWN, CVE-2016-0800" in found[0].text
    assert found[0].reference.startswith("RFC 6176 §3")
    assert [s["code"] for s in result.suites()] == [0xC02B]  # the SSLv2 kinds stay out of the suite findings
    text = render.text(result, "mx", found)
    assert "  SSLv2    accepted  order n/a (SSLv2)" in text
    assert "  SSLv2    SSL_CK_RC4_128_WITH_MD5" in text
    refused = ScanResult("127.0.0.1", 25, True, "mx.example.org", [_sslv2(False), tls12])
    assert not [f for f in findings.versions(refused) if "SSLv2" in f.text]
    assert "  SSLv2    refused   (TLS alert protocol_version)" in render.text(refused, "mx", [])
    refused.versions[0].note = "not asked: connection reset"  # a question that failed is no refusal
    assert "  SSLv2    unknown   (not asked: connection reset)" in render.text(refused, "mx", [])
