"""send's AUTH, pipelining, message and stop options against a real aiosmtpd server."""

import json

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe
from tests.servers.auth_target import PASSWORD, USER


def _send(target, *options, env=None):
    return smtpprobe("send", "--server", f"127.0.0.1:{target.port}", "--to", "rcpt@auth.test",
                     "--from", "me@auth.test", "--helo", "client.test", "--timeout", "5", *options, env=env)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_auth_mechanisms_succeed_and_secrets_are_redacted(auth_target, mechanism):
    run = _send(auth_target, "--auth", mechanism, "--auth-user", USER, "--auth-password", PASSWORD,
                "--allow-plaintext-auth")
    assert run.code == 0, run.out + run.err
    assert "<-  235 " in run.out
    assert " -> AUTH " + mechanism in run.out
    assert "<redacted>" in run.out
    assert "czNjcmV0LXB3" not in run.out and PASSWORD not in run.out  # base64 of the password, and the password
    assert len(auth_target.messages) == 1


def test_show_secrets_reveals_the_auth_line(auth_target):
    run = _send(auth_target, "--auth", "PLAIN", "--auth-user", USER, "--allow-plaintext-auth", "--show-secrets",
                "--quit-after", "auth", env={"SMTPPROBE_AUTH_PASSWORD": PASSWORD})
    assert run.code == 0, run.err
    assert " -> AUTH PLAIN AGFsaWNlAHMzY3JldC1wdw==" in run.out


def test_bad_password_is_the_auth_stage_exit_code(auth_target):
    run = _send(auth_target, "--auth", "LOGIN", "--auth-user", USER, "--auth-password", "wrong",
                "--allow-plaintext-auth")
    assert run.code == Exit.AUTH
    assert "<** 535 5.7.8 Authentication credentials invalid" in run.out
    assert run.err_lines == ["*** authentication failed: 535 5.7.8 Authentication credentials invalid"]
    assert auth_target.messages == []


def test_auth_over_plaintext_is_refused_without_the_override(auth_target):
    run = _send(auth_target, "--auth", "PLAIN", "--auth-user", USER, "--auth-password", PASSWORD)
    assert run.code == Exit.AUTH
    assert "refusing to send credentials over a plaintext connection" in run.err
    assert " -> AUTH" not in run.out


def test_auth_without_a_password_and_no_terminal_is_a_usage_error(auth_target):
    run = _send(auth_target, "--auth", "PLAIN", "--auth-user", USER, "--allow-plaintext-auth",
                env={"SMTPPROBE_AUTH_PASSWORD": ""})
    assert run.code == Exit.USAGE
    assert "needs a password" in run.err


def test_pipeline_sends_the_envelope_in_one_batch(auth_target):
    run = _send(auth_target, "--pipeline", "--to", "second@auth.test", "--json")
    result = json.loads(run.out)
    assert run.code == 0, run.err
    sent = [e for e in result["transcript"] if e["kind"] == "sent"]
    mail = next(i for i, e in enumerate(sent) if e["text"].startswith("MAIL FROM"))
    assert [e["text"].split(" SIZE=")[0] for e in sent[mail:mail + 4]] == [  # SIZE= is automatic (docs/send.md)
        "MAIL FROM:<me@auth.test>", "RCPT TO:<rcpt@auth.test>", "RCPT TO:<second@auth.test>", "DATA"]
    assert len({e["ms"] for e in sent[mail:mail + 4]}) == 1  # one write
    assert result["accepted_recipients"] == ["rcpt@auth.test", "second@auth.test"]
    assert auth_target.messages[0].rcpt_tos == ["rcpt@auth.test", "second@auth.test"]


def test_headers_body_and_attachment_reach_the_server(auth_target, tmp_path):
    attachment = tmp_path / "report.txt"
    attachment.write_text("attached text\n")
    run = _send(auth_target, "--header", "Subject: hello there", "--header", "X-Test: 1",
                "--body", ".leading dot line", "--attach", str(attachment))
    assert run.code == 0, run.err
    message = auth_target.messages[0].content.decode()
    assert "Subject: hello there" in message and "X-Test: 1" in message
    assert message.count("Subject:") == 1  # the header replaced the default one
    assert ".leading dot line" in message  # dot-stuffed on the wire, unstuffed by the server
    assert 'filename="report.txt"' in message


def test_raw_data_file_is_sent_as_is(auth_target, tmp_path):
    raw = tmp_path / "msg.eml"
    raw.write_bytes(b"Subject: raw\r\n\r\nline one\r\n.\r\nafter a lone dot\r\n")
    run = _send(auth_target, "--data", str(raw))
    assert run.code == 0, run.err
    assert auth_target.messages[0].content == b"Subject: raw\r\n\r\nline one\r\n.\r\nafter a lone dot\r\n"


@pytest.mark.parametrize("stage, last_sent", [
    ("banner", None), ("ehlo", "EHLO client.test"), ("mail", "MAIL FROM:<me@auth.test>"),
    ("rcpt", "RCPT TO:<rcpt@auth.test>"), ("data", "DATA"),
])
def test_quit_after_stops_at_the_stage(auth_target, stage, last_sent):
    run = _send(auth_target, "--quit-after", stage, "--json")
    result = json.loads(run.out)
    assert run.code == 0, run.err
    sent = [e["text"] for e in result["transcript"] if e["kind"] == "sent"]
    if stage == "data":  # the server waits for a message: drop without QUIT, which would become its text
        assert sent[-1] == "DATA"
    else:
        assert sent[-1] == "QUIT"
        assert (sent[-2] if len(sent) > 1 else None) == last_sent
    assert auth_target.messages == []


def test_missing_attachment_is_a_usage_error_before_connecting(auth_target, tmp_path):
    run = _send(auth_target, "--attach", str(tmp_path / "nope.pdf"))
    assert run.code == Exit.USAGE
    assert run.err_lines == [f"smtpprobe: --attach {tmp_path / 'nope.pdf'}: No such file or directory"]
    assert run.out == ""


def test_pipeline_falls_back_when_not_advertised(hostile_server):
    server = hostile_server("never_offers_starttls")  # no PIPELINING either; refuses every command with 502
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", "a@b.test", "--pipeline", "--timeout", "5")
    assert "=== server does not advertise PIPELINING; sending commands one at a time" in run.out
    assert run.code == Exit.MAIL
    assert run.err_lines == ["*** sender refused: 502 5.5.2 Error: command not recognized"]


def test_ehlo_falls_back_to_helo_only_when_ehlo_is_not_recognised(hostile_server, lab_hardened):
    old = hostile_server("knows_only_helo")
    run = smtpprobe("send", "--server", f"127.0.0.1:{old.port}", "--to", "a@old.example", "--helo", "c.example.org",
                    "--quit-after", "rcpt")
    assert run.code == 0, run.out + run.err
    assert "=== EHLO not recognised, falling back to HELO" in run.out and " -> HELO c.example.org" in run.out
    # A policy refusal of the name is not a reason to retry with HELO.
    refused = smtpprobe("send", "--server", f"127.0.0.1:{lab_hardened.port}", "--to", "postmaster@lab.test",
                        "--helo", "[127.0.0.1]")
    assert refused.code == Exit.HELO
    assert " -> HELO" not in refused.out
    assert refused.err_lines == [("*** EHLO refused: 554 5.7.1 <[127.0.0.1]>: Helo command rejected: "
                                 "IP-literal HELO not accepted here")]
