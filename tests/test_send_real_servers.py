"""`smtpprobe send` against a real Postfix on loopback, and against the lab: the transactions users run."""

import json

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe

HELO = "client.example.org"


def _send(host, port, *options):
    return smtpprobe("send", "--server", f"{host}:{port}", "--from", "probe@example.org", "--helo", HELO,
                     "--timeout", "10", *options)


def test_plain_delivery_to_postfix(postfix_factory):
    postfix = postfix_factory("strict")
    run = _send(postfix.host, postfix.smtp_port, "--to", postfix.local_rcpt, "--header", "Subject: plain-delivery")
    assert run.code == 0, run.out + run.err
    assert "<-  220 mx.lab.test ESMTP" in run.out
    assert "<-  250 2.0.0 Ok: queued as" in run.out
    assert [m for m in postfix.delivered() if b"Subject: plain-delivery" in m]


def test_starttls_to_postfix_reports_tls_and_ehlos_again(postfix_strict):
    run = _send(postfix_strict.host, postfix_strict.smtp_port, "--to", postfix_strict.local_rcpt, "--tls",
                "--tls-sni", "mx.lab.test", "--tls-ca-file", str(postfix_strict.cert_path), "--json")
    result = json.loads(run.out)
    assert run.code == 0, run.err
    assert result["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert result["tls"]["chain_verified"] and result["tls"]["name_verified"]
    sent = [(e["text"], e["tls"]) for e in result["transcript"] if e["kind"] == "sent"]
    assert ("STARTTLS", False) in sent and (f"EHLO {HELO}", True) in sent
    assert "STARTTLS" not in result["extensions"]  # the post-TLS EHLO no longer offers it


def test_implicit_tls_to_postfix(postfix_strict):
    run = _send(postfix_strict.host, postfix_strict.smtps_port, "--to", postfix_strict.local_rcpt,
                "--tls-on-connect", "--quit-after", "rcpt")
    assert run.code == 0, run.err
    assert run.out.index("=== TLS started") < run.out.index("<~  220 mx.lab.test")
    assert "<~  250 2.1.5 Ok" in run.out


def test_submission_without_tls_fails_at_mail_with_530(postfix_strict):
    run = _send(postfix_strict.host, postfix_strict.submission_port, "--to", postfix_strict.local_rcpt)
    assert run.code == Exit.MAIL
    assert "<** 530 5.7.0 Must issue a STARTTLS command first" in run.out
    assert run.err_lines == ["*** sender refused: 530 5.7.0 Must issue a STARTTLS command first"]


def test_relay_refused_at_rcpt(postfix_strict):
    run = _send(postfix_strict.host, postfix_strict.smtp_port, "--to", "victim@example.net")
    assert run.code == Exit.RCPT
    assert "<** 554 5.7.1 <victim@example.net>: Relay access denied" in run.out
    assert " -> DATA" not in run.out


def test_missing_helo_name_style_refusal_at_rcpt_is_the_rcpt_stage(postfix_strict):
    # smtpd_delay_reject: the bad HELO is answered 250, the refusal comes at RCPT.
    run = smtpprobe("send", "--server", f"{postfix_strict.host}:{postfix_strict.smtp_port}",
                    "--to", postfix_strict.local_rcpt, "--helo", "[192.0.2.1]", "--from", "a@example.org")
    assert run.code == Exit.RCPT
    assert "IP-literal HELO not accepted here" in run.out


def test_pipelining_to_postfix(postfix_strict):
    run = _send(postfix_strict.host, postfix_strict.smtp_port, "--to", postfix_strict.local_rcpt, "--pipeline",
                "--quit-after", "dot")
    assert run.code == 0, run.err
    assert "=== server does not advertise PIPELINING" not in run.out


def test_lab_submission_with_auth_over_starttls(lab_hardened):
    lab = lab_hardened
    user, password = next(iter(lab.users.items()))
    run = _send(lab.host, lab.submission_port, "--to", "someone@elsewhere.example", "--tls", "--auth", "PLAIN",
                "--auth-user", user, "--auth-password", password, "--header", "Subject: lab-auth-relay")
    assert run.code == 0, run.out + run.err
    assert "<~  235 2.7.0 Authentication successful" in run.out
    assert any(m.rcpt_tos == ("someone@elsewhere.example",) for m in lab.messages)  # authenticated relay allowed


def test_lab_refuses_auth_before_tls_and_we_refuse_to_send_it(lab_hardened):
    run = _send(lab_hardened.host, lab_hardened.submission_port, "--to", "a@lab.test", "--auth", "LOGIN",
                "--auth-user", "user", "--auth-password", "password")
    assert run.code == Exit.AUTH
    assert "refusing to send credentials over a plaintext connection" in run.err


def test_lab_ipv6(lab_factory):
    lab = lab_factory(host="::1")
    run = smtpprobe("send", "--server", f"[::1]:{lab.port}", "--to", "postmaster@lab.test", "--helo", HELO,
                    "--quit-after", "rcpt", "-6")
    assert run.code == 0, run.err
    assert "=== Trying [::1]:" in run.out


def test_local_address_is_used(lab_factory):
    lab = lab_factory(host="127.0.0.1")
    run = smtpprobe("send", "--server", f"127.0.0.1:{lab.port}", "--to", "postmaster@lab.test", "--helo", HELO,
                    "--local-address", "127.0.0.1", "--json")
    assert run.code == 0, run.err
    assert lab.messages[-1].peer[0] == "127.0.0.1"


@pytest.mark.parametrize("profile, code", [("hardened", Exit.MAIL), ("open", Exit.OK)])
def test_lab_profiles_on_missing_helo_style_client(lab_factory, profile, code):
    lab = lab_factory(profile=profile)
    run = smtpprobe("send", "--server", f"127.0.0.1:{lab.port}", "--to", "victim@example.net", "--helo", "nodots",
                    "--force-helo", "--quit-after", "rcpt")
    if profile == "hardened":
        assert run.code == Exit.HELO and "504 5.5.2" in run.out
    else:
        assert run.code == code
