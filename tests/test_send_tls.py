"""What `send` reports about TLS: the facts, and whether chain and name verify (reported, not enforced,
unless --tls-verify)."""

import json

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe


def _send(port, *options):
    return smtpprobe("send", "--server", f"127.0.0.1:{port}", "--to", "a@tls.test", "--from", "b@tls.test",
                     "--quit-after", "tls", "--timeout", "5", "--json", *options)


def test_starttls_with_a_trusted_certificate_for_the_right_name(tls_target):
    target = tls_target(["mx.tls.test"])
    run = _send(target.starttls_port, "--tls", "--tls-ca-file", str(target.ca_file), "--tls-sni", "mx.tls.test")
    result = json.loads(run.out)
    assert run.code == 0, run.err
    tls = result["tls"]
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["subject"] == "CN=mx.tls.test" and tls["issuer"] == "CN=smtpprobe test CA"
    assert tls["sans"] == ["mx.tls.test"]
    assert (tls["chain_verified"], tls["name_verified"], tls["verify_error"]) == (True, True, None)
    kinds = [(e["kind"], e["tls"]) for e in result["transcript"]]
    assert ("sent", True) in kinds  # the EHLO after STARTTLS went inside TLS
    ehlos = [e["text"] for e in result["transcript"] if e["kind"] == "sent" and e["text"].startswith("EHLO")]
    assert len(ehlos) == 2  # RFC 3207: EHLO again after TLS


def test_wrong_name_is_reported_but_not_enforced(tls_target):
    target = tls_target(["other.tls.test"])
    run = _send(target.starttls_port, "--tls", "--tls-ca-file", str(target.ca_file), "--tls-sni", "mx.tls.test")
    tls = json.loads(run.out)["tls"]
    assert run.code == 0
    assert (tls["chain_verified"], tls["name_verified"]) == (True, False)
    assert tls["verify_error"] == "the certificate does not name mx.tls.test"


def test_self_signed_is_reported_and_enforced_with_tls_verify(tls_target):
    target = tls_target(["mx.tls.test"], signed=False)
    run = _send(target.implicit_port, "--tls-on-connect", "--tls-sni", "mx.tls.test")
    tls = json.loads(run.out)["tls"]
    assert run.code == 0
    assert tls["chain_verified"] is False and tls["verify_error"] == "self-signed certificate"
    enforced = _send(target.implicit_port, "--tls-on-connect", "--tls-sni", "mx.tls.test", "--tls-verify")
    assert enforced.code == Exit.TLS
    assert "certificate verification failed: self-signed certificate" in json.loads(enforced.out)["error"]


def test_untrusted_ca_is_reported(tls_target):
    target = tls_target(["mx.tls.test"])
    run = _send(target.starttls_port, "--tls", "--tls-sni", "mx.tls.test")  # system store: our CA is unknown
    tls = json.loads(run.out)["tls"]
    assert tls["chain_verified"] is False and tls["verify_error"].startswith("chain does not verify")


def test_text_transcript_shows_tls_lines(tls_target):
    target = tls_target(["mx.tls.test"])
    run = smtpprobe("send", "--server", f"127.0.0.1:{target.starttls_port}", "--to", "a@tls.test",
                    "--tls", "--tls-ca-file", str(target.ca_file), "--tls-sni", "mx.tls.test")
    assert run.code == 0, run.err
    assert "=== TLS started with cipher TLSv1.3:" in run.out
    assert "=== TLS certificate verified" in run.out
    assert " ~> EHLO " in run.out and " ~> QUIT" in run.out and "<~  250 " in run.out
