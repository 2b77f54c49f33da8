"""Certificates never crash a probe (issue 14 item 5): a wildcard first SAN (the commonest kind), IP SANs,
escape sequences in names, 3000 names; and one rule for "verified" with or without --tls-verify
(subjectAltName only: a CN-only certificate is not verified either way). Real TLS servers (aiosmtpd)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe

WILDCARD = ["*.tls.test", "tls.test"]


def _send(port, *options):
    return smtpprobe(
        "send",
        "--server",
        f"127.0.0.1:{port}",
        "--to",
        "a@tls.test",
        "--from",
        "b@tls.test",
        "--quit-after",
        "tls",
        "--timeout",
        "5",
        "--json",
        *options,
    )


def test_wildcard_first_san_in_send_is_verified_for_a_covered_name(odd_cert_target):
    target = odd_cert_target(WILDCARD)
    for verify in ((), ("--tls-verify",)):
        run = _send(
            target.starttls_port,
            "--tls",
            "--tls-ca-file",
            str(target.ca_file),
            "--tls-sni",
            "mx.tls.test",
            *verify,
        )
        assert run.code == 0, run.out + run.err
        tls = json.loads(run.out)["tls"]
        assert tls["sans"] == WILDCARD
        assert (tls["chain_verified"], tls["name_verified"], tls["verify_error"]) == (True, True, None)


def test_wildcard_covers_one_label_only(odd_cert_target):
    target = odd_cert_target(WILDCARD)
    run = _send(
        target.starttls_port, "--tls", "--tls-ca-file", str(target.ca_file), "--tls-sni", "a.b.tls.test"
    )
    tls = json.loads(run.out)["tls"]
    assert run.code == 0
    assert (tls["chain_verified"], tls["name_verified"]) == (True, False)  # RFC 6125 §6.4.3
    enforced = _send(
        target.starttls_port,
        "--tls",
        "--tls-ca-file",
        str(target.ca_file),
        "--tls-sni",
        "a.b.tls.test",
        "--tls-verify",
    )
    assert enforced.code == Exit.TLS  # OpenSSL agrees


def test_cn_only_certificate_is_not_verified_with_or_without_tls_verify(odd_cert_target):
    target = odd_cert_target([], cn="mx.tls.test")
    reported = _send(
        target.starttls_port, "--tls", "--tls-ca-file", str(target.ca_file), "--tls-sni", "mx.tls.test"
    )
    tls = json.loads(reported.out)["tls"]
    assert reported.code == 0 and tls["sans"] == [] and tls["name_verified"] is False
    enforced = _send(
        target.starttls_port,
        "--tls",
        "--tls-ca-file",
        str(target.ca_file),
        "--tls-sni",
        "mx.tls.test",
        "--tls-verify",
    )
    assert enforced.code == Exit.TLS, enforced.out  # before: OpenSSL's CN fallback called it verified
    assert "mx.tls.test" in json.loads(enforced.out)["error"]


def test_ip_san_matches_an_ip_server(odd_cert_target):
    target = odd_cert_target(["127.0.0.1", "*.tls.test"])
    run = _send(
        target.implicit_port, "--tls-on-connect", "--tls-ca-file", str(target.ca_file), "--tls-verify"
    )
    tls = json.loads(run.out)["tls"]
    assert run.code == 0, run.out + run.err
    assert tls["sans"] == ["*.tls.test", "127.0.0.1"] and tls["name_verified"] is True


def test_hostile_names_reach_the_terminal_escaped_and_bounded(odd_cert_target):
    hostile = ["\x1b[2J\x1b[31mpwned.tls.test"] + [f"h{i}.tls.test" for i in range(2999)]
    target = odd_cert_target(hostile, cn="\x1b]0;title\x07x")
    run = smtpprobe(
        "send",
        "--server",
        f"127.0.0.1:{target.starttls_port}",
        "--to",
        "a@tls.test",
        "--from",
        "b@tls.test",
        "--quit-after",
        "tls",
        "--timeout",
        "10",
        "--tls",
        "--tls-ca-file",
        str(target.ca_file),
        "--tls-sni",
        "h5.tls.test",
    )
    assert run.code == 0, run.err
    assert "\x1b" not in run.out + run.err and "\x07" not in run.out
    assert "\\x1b[2J" in run.out and "and 2990 more" in run.out
    assert "=== TLS certificate verified" in run.out
    assert len(run.out) < 20_000  # 3000 names are counted, not listed
    scan = smtpprobe(
        "tls",
        "--server",
        f"127.0.0.1:{target.starttls_port}",
        "--name",
        "h5.tls.test",
        "--tls-ca-file",
        str(target.ca_file),
        "--role",
        "submission",
    )
    assert "\x1b" not in scan.out + scan.err and "and 2990 more" in scan.out, scan.out + scan.err
    assert scan.code == 0, scan.out + scan.err


def test_wildcard_certificate_in_run_keeps_the_whole_run_and_its_junit(odd_cert_target, tmp_path):
    target = odd_cert_target(WILDCARD)
    junit = tmp_path / "run.xml"
    run = smtpprobe(
        "run",
        "-s",
        "127.0.0.1",
        "-p",
        f"submission={target.starttls_port}",
        "-p",
        f"smtps={target.implicit_port}",
        "--only",
        "starttls-offered",
        "--only",
        "implicit-tls",
        "--format",
        "junit",
        "--output",
        str(junit),
        "--timeout",
        "5",
        timeout=120,
    )
    assert "internal error" not in run.out + run.err and "invalid domain name" not in run.out + run.err
    assert run.code in (0, 1), run.out + run.err
    cases = ET.parse(junit).getroot().iter("testcase")
    names = [c.get("name") for c in cases]
    assert any("implicit-tls" in n for n in names) and any("starttls-offered" in n for n in names), names


def test_wildcard_certificate_in_doctor(odd_cert_target, dns_server):
    target = odd_cert_target(WILDCARD)
    run = smtpprobe(
        "doctor",
        "--resolver",
        dns_server.address,
        "--dnsbl",
        "bl.test",
        "--from",
        "alice@healthy.test",
        "--ip",
        "127.0.0.1",
        "--helo",
        "mail.healthy.test",
        "--dkim-selector",
        "doctor",
        "--server",
        "127.0.0.1",
        "--to",
        "a@tls.test",
        "--port",
        f"submission={target.starttls_port},smtps={target.implicit_port}",
        "--timeout",
        "5",
        timeout=120,
    )
    assert "internal error" not in run.out + run.err, run.out + run.err
    assert "invalid domain name" not in run.out + run.err
    assert "TLS peer names *.tls.test, tls.test" in run.out, run.out
    # the receiver's TLS posture, from a scan of each port (the test CA is not in the system store)
    assert "## The receiver's TLS" in run.out and "self-signed" not in run.out
    assert f"smtpprobe tls --server 127.0.0.1:{target.starttls_port} --role submission" in run.out


def test_wildcard_certificate_in_repl(odd_cert_target):
    target = odd_cert_target(WILDCARD)
    run = smtpprobe(
        "repl",
        f"127.0.0.1:{target.starttls_port}",
        "--timeout",
        "10",
        "--tls-sni",
        "mx.tls.test",
        input="EHLO client.example\n/starttls\nNOOP\n",
        env={"NO_COLOR": "1"},
    )
    assert "internal error" not in run.out + run.err, run.out + run.err
    assert "TLS peer names *.tls.test, tls.test" in run.out + run.err
    assert run.code == 0, run.out + run.err


def test_tls_reports_a_leaf_sent_without_its_chain(odd_cert_target):
    """A certificate from a CA the client does not know, sent alone: on a submission port, a fail."""
    target = odd_cert_target(["mx.tls.test"])
    run = smtpprobe(
        "tls",
        "--server",
        f"127.0.0.1:{target.starttls_port}",
        "--name",
        "mx.tls.test",
        "--role",
        "submission",
        "--format",
        "json",
    )
    cert = json.loads(run.out)["certificate"]
    assert run.code == 1 and cert["chain_length"] == 1 and cert["chain_verified"] is False
    assert any("only the leaf certificate was sent" in p for p in cert["problems"])
    trusted = smtpprobe(
        "tls",
        "--server",
        f"127.0.0.1:{target.starttls_port}",
        "--name",
        "mx.tls.test",
        "--role",
        "submission",
        "--tls-ca-file",
        str(target.ca_file),
        "--format",
        "json",
    )
    assert json.loads(trusted.out)["certificate"]["problems"] == [] and trusted.code == 0, trusted.out
