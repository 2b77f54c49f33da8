"""Loops a server can drive: a server answering every AUTH line with 334 must get a bounded number of
responses and one clear error, in `send`, `doctor` and the REPL's /auth, within bounded time and memory
(measured inside the smtpprobe process: VmHWM)."""

from __future__ import annotations

import ssl

from smtpprobe.exitcodes import Exit

MAX_ROUNDS = 10  # smtpprobe.sasl.MAX_ROUNDS, the documented bound
from tests.cli import smtpprobe
from tests.servers._certs import make_server_cert

ENDLESS = "the server still answers 334 after 10 SASL responses; giving up"


def test_send_gives_up_an_endless_auth(attack_server):
    server = attack_server(auth=b"334 ")
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", "a@b.test", "--from", "me@c.test",
                    "--auth", "LOGIN", "--auth-user", "u", "--auth-password", "p", "--allow-plaintext-auth",
                    "--timeout", "5", timeout=30)
    assert run.code == Exit.AUTH, run.err
    assert [line for line in run.err_lines if line.startswith("***")] == [f"*** {ENDLESS} (an endless AUTH exchange)"]
    auth_lines = [line for line in server.lines if not line.startswith((b"EHLO", b"QUIT"))]
    assert len(auth_lines) <= MAX_ROUNDS + 2  # AUTH, the responses, the QUIT read as one more answer
    assert run.seconds < 5
    assert run.peak_rss_mb < 100


def test_repl_auth_gives_up_an_endless_auth(attack_server):
    server = attack_server(auth=b"334 ")
    run = smtpprobe("repl", f"127.0.0.1:{server.port}", "--timeout", "5", input="EHLO me\n/auth plain u --plaintext-ok\n",
                    env={"SMTPPROBE_AUTH_PASSWORD": "p"}, timeout=30)
    assert run.code == Exit.AUTH, run.err
    assert f"*** {ENDLESS} (an endless AUTH exchange)" in run.err_lines
    assert len(server.lines) <= MAX_ROUNDS + 4
    assert run.seconds < 5
    assert run.peak_rss_mb < 100


def test_doctor_gives_up_an_endless_auth(dns_server, attack_server, tmp_path):
    cert, key = make_server_cert(tmp_path, ["attack.example"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = attack_server(auth=b"334 ", tls_context=context)
    run = smtpprobe("doctor", "--resolver", dns_server.address, "--dnsbl", "bl.test", "--timeout", "5",
                    "--from", "alice@healthy.test", "--ip", "127.0.0.1", "--helo", "mail.healthy.test",
                    "--server", "127.0.0.1", "--to", "x@y.test", "--port", f"smtps={server.port}",
                    "--auth-user", "u", env={"SMTPPROBE_AUTH_PASSWORD": "p"}, timeout=30)
    assert "Traceback" not in run.err
    assert ENDLESS in run.out, run.out[-2000:]
    assert len(server.lines) <= MAX_ROUNDS + 4
    assert run.seconds < 10
    assert run.peak_rss_mb < 120
