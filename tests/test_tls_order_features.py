"""Whose cipher order a server follows, and its renegotiation, compression and heartbeat, against real Postfix
instances: `tls_preempt_cipherlist = yes` (the server's order) and `no` (the client's, Postfix's default),
with strong and CBC suites enabled on TLS 1.2.

Truth comes from OpenSSL's own client: `openssl s_client -cipher A:B` and then `B:A` with the two suites the
scan asked about, and its "Secure Renegotiation IS supported" and "Compression: NONE" lines. The paths no
server here can show (no renegotiation_info, DEFLATE chosen, heartbeat echoed) are unit tests on hand-built
ServerHellos (tests/unit/test_tlsscan_order_features.py)."""

from __future__ import annotations

import subprocess

import pytest

from tests.test_tls_postfix import handshake, run_scenarios, scan

MIXED = {
    "tls_medium_cipherlist": "ECDHE+AESGCM:ECDHE+AES",  # GCM first, then CBC ("acceptable")
    "smtpd_tls_protocols": ">=TLSv1.2",
    "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
}


def openssl_names() -> dict[str, str]:
    """IANA suite name -> OpenSSL's, for `-cipher`."""
    out = subprocess.run(
        ["openssl", "ciphers", "-stdname", "ALL:@SECLEVEL=0"], check=True, capture_output=True, text=True
    ).stdout
    return {line.split()[0]: line.split()[2] for line in out.splitlines() if " - " in line}


@pytest.mark.parametrize(("preempt", "expected"), [("yes", "server"), ("no", "client")])
def test_server_order_follows_tls_preempt_cipherlist(postfix_factory, preempt, expected):
    inst = postfix_factory("strict", {**MIXED, "tls_preempt_cipherlist": preempt})
    code, report = scan(inst.smtp_port, "--name", "mx.lab.test")
    versions = {v["version"]: v for v in report["versions"]}
    tls12 = versions["TLSv1.2"]
    assert tls12["order"] == expected, tls12
    assert versions["TLSv1.3"]["order"] == "not applicable"
    weak, strong = tls12["order_evidence"]["offered"]  # the weaker suite is offered first
    grades = {s["name"]: s["grade"] for s in tls12["suites"]}
    assert (grades[weak], grades[strong]) == ("acceptable", "strong")
    # The consequence: OpenSSL's client gets the same suite both ways round only when the server's order wins.
    names = openssl_names()
    first = handshake(inst.smtp_port, "-tls1_2", "-cipher", f"{names[weak]}:{names[strong]}", starttls=True)
    second = handshake(inst.smtp_port, "-tls1_2", "-cipher", f"{names[strong]}:{names[weak]}", starttls=True)
    assert [first, second] == [names[n] for n in tls12["order_evidence"]["chosen"]]
    assert (first == second) == (expected == "server")
    warned = [
        f for f in report["findings"] if f["topic"] == "ciphers" and "client's cipher order" in f["text"]
    ]
    if expected == "client":
        assert first == names[weak]  # a client that lists the CBC suite first gets it
        assert [f["severity"] for f in warned] == ["warn"] and "RFC 9325 §4.2.1" in warned[0]["reference"]
    else:
        assert first == names[strong] and warned == []
    assert code == 0  # a warning, not a failure (the certificate only warns on an MX)


def test_only_strong_suites_in_client_order_is_fine(postfix_factory):
    from tests.test_tls_postfix import STRONG

    inst = postfix_factory("strict", STRONG)  # Postfix's default: the client's order
    _, report = scan(inst.smtp_port, "--name", "mx.lab.test")
    assert {v["version"]: v["order"] for v in report["versions"] if v["accepted"]}["TLSv1.2"] == "client"
    assert not [f for f in report["findings"] if "cipher order" in f["text"]]


def test_postfix_has_secure_renegotiation_and_no_compression_or_heartbeat(postfix_factory):
    inst = postfix_factory("strict", MIXED)
    _, report = scan(inst.smtps_port, "--tls-on-connect")
    assert report["features"] == {
        "asked_with": "TLSv1.2",
        "secure_renegotiation": True,
        "compression": "null",
        "heartbeat": False,
    }
    assert not [f for f in report["findings"] if f["topic"] == "features"]
    results = run_scenarios(inst, "tls-features", "tls-ciphers")
    for role in ("mx", "submission", "smtps"):
        assert results[("tls-features", role)]["verdict"] == "pass", results[("tls-features", role)]
        assert results[("tls-ciphers", role)]["verdict"] == "warn"  # client order with CBC suites
    # The consequence, in OpenSSL's words.
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{inst.smtps_port}", "-tls1_2"],
        check=False,
        input="",
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    assert "Secure Renegotiation IS supported" in out and "Compression: NONE" in out


def test_tls13_only_has_no_features_to_ask(postfix_factory):
    inst = postfix_factory(
        "strict", {"smtpd_tls_protocols": ">=TLSv1.3", "smtpd_tls_mandatory_protocols": ">=TLSv1.3"}
    )
    _, report = scan(inst.smtps_port, "--tls-on-connect")
    assert report["features"] == {} and [v["version"] for v in report["versions"] if v["accepted"]] == [
        "TLSv1.3"
    ]
    results = run_scenarios(inst, "tls-features")
    assert results[("tls-features", "smtps")]["verdict"] == "skip", results[("tls-features", "smtps")]
    assert handshake(inst.smtps_port, "-tls1_2") is None and handshake(inst.smtps_port, "-tls1_3") is not None
