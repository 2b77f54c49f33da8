"""`smtpprobe repl` with standard input a pipe (a heredoc, a CI job): against the lab, a real Postfix and
purpose-built servers. No prompt noise, each reply awaited, the exit status from the last reply."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import uuid

from tests.cli import smtpprobe
from tests.servers.hostile import HostileServer, _read_line

PASSWORD_ENV = "SMTPPROBE_AUTH_PASSWORD"


def repl(port: int, script: str, *extra: str, env: dict | None = None, timeout: float = 60):
    return smtpprobe(
        "repl",
        f"127.0.0.1:{port}",
        "--timeout",
        "10",
        *extra,
        input=script,
        timeout=timeout,
        env={"NO_COLOR": "1", **(env or {})},
    )


def test_lab_starttls_auth_and_a_dot_stuffed_message(lab_hardened, tmp_path):
    marker = uuid.uuid4().hex
    saved = tmp_path / "session.txt"
    script = f"""EHLO client.example
/starttls
/ehlo client.example
/auth plain user
MAIL FROM:<user@lab.test>
RCPT TO:<postmaster@lab.test>
/data
Subject: {marker}

.a line starting with a dot
.
/save {saved}
QUIT
"""
    run = repl(lab_hardened.submission_port, script, env={PASSWORD_ENV: "password"})
    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert "smtp>" not in run.out  # no prompt noise
    assert "<-  220 2.0.0 Ready to start TLS" in lines
    assert any(line.startswith("=== TLS started with cipher TLSv1.") for line in lines)
    assert " ~> AUTH PLAIN <redacted>" in lines
    assert "<~  235 2.7.0 Authentication successful" in lines
    assert " ~> ..a line starting with a dot" in lines  # dot-stuffed on the wire
    assert "<~  221 2.0.0 Bye" in lines
    # the note under each reply
    assert lines[lines.index("<~  235 2.7.0 Authentication successful") + 1].startswith("   ^ 235 = ")
    # the secret is nowhere: not on screen, not in the saved transcript
    secret = "AHVzZXIAcGFzc3dvcmQ="  # base64 of \0user\0password
    for text in (run.out, run.err, saved.read_text()):
        assert secret not in text and "password" not in text
    assert " ~> AUTH PLAIN <redacted>" in saved.read_text().splitlines()
    message = next(m for m in lab_hardened.messages if marker.encode() in m.data)
    assert message.tls and message.authenticated_as == "user"
    assert b"\r\n.a line starting with a dot\r\n" in message.data  # and unstuffed by the server


def test_lab_auth_refused_on_plaintext_unless_told(lab_open):
    run = repl(lab_open.port, "EHLO client.example\n/auth plain user\nNOOP\n", env={PASSWORD_ENV: "password"})
    assert run.code == 2
    assert "refusing to send a password over a plaintext connection" in run.err
    assert "NOOP" not in run.out  # piped mode stops at the first error
    assert " -> QUIT" in run.out  # ... and still leaves politely

    run = repl(
        lab_open.port,
        "EHLO client.example\n/auth login user --plaintext-ok\n",
        env={PASSWORD_ENV: "password"},
    )
    assert run.code == 0, run.out + run.err
    assert run.out.count(" -> <redacted>") == 2  # LOGIN: user name and password, each redacted
    assert "<-  235 2.7.0 Authentication successful" in run.out


def test_exit_status_is_the_last_reply(lab_hardened):
    refused = repl(
        lab_hardened.port, "EHLO client.example\nMAIL FROM:<a@example.org>\nRCPT TO:<x@example.net>\n"
    )
    assert refused.code == 1
    assert "<** 554 5.7.1 <x@example.net>: Relay access denied" in refused.out
    assert " -> QUIT" in refused.out  # the closing QUIT does not change the status

    fine = repl(lab_hardened.port, "EHLO client.example\nMAIL FROM:<a@example.org>\nRSET\n")
    assert fine.code == 0
    assert fine.err == ""


def test_postfix_starttls_and_delivery(postfix_strict):
    marker = uuid.uuid4().hex
    script = f"""EHLO client.example
/starttls
EHLO client.example
MAIL FROM:<sender@example.org>
RCPT TO:<{postfix_strict.local_rcpt}>
DATA
Subject: {marker}

typed line by line, as in telnet
..
.
QUIT
"""
    run = repl(postfix_strict.smtp_port, script)
    assert run.code == 0, run.out + run.err
    assert "<-  220 2.0.0 Ready to start TLS" in run.out
    assert " ~> EHLO client.example" in run.out
    assert "<~  354 End data with <CR><LF>.<CR><LF>" in run.out
    assert "<~  221 2.0.0 Bye" in run.out
    delivered = [m for m in postfix_strict.delivered(postfix_strict.local_rcpt) if marker.encode() in m]
    assert len(delivered) == 1
    assert b"typed line by line, as in telnet\n.\n" in delivered[0]  # the user's own "..": one dot stored


def test_postfix_refusal_exit_1_and_raw_bare_lf(postfix_strict):
    run = repl(
        postfix_strict.smtp_port,
        "EHLO client.example\nMAIL FROM:<a@example.org>\nRCPT TO:<victim@example.net>\n",
    )
    assert run.code == 1
    assert "Relay access denied" in run.out
    lines = run.out.splitlines()
    refusal = next(i for i, line in enumerate(lines) if line.startswith("<** 554 5.7.1"))
    assert lines[refusal + 1].startswith("   ^ 554 = ")  # the note under the refusal

    raw = repl(postfix_strict.smtp_port, "/raw NOOP\\r\\n\n")
    assert raw.code == 0
    assert " -> NOOP" in raw.out and "<-  250 2.0.0 Ok" in raw.out


def test_bare_lf_probe_shows_what_was_sent(lab_hardened):
    run = repl(lab_hardened.port, "/raw NOOP\\n\n", "--timeout", "2")
    assert " -> NOOP\\n  (no CRLF)" in run.out  # the transcript shows the bare LF for what it is
    assert run.code in (0, 1)  # whatever the server makes of it, no reply is not an error for /raw


def test_bad_input_lines(lab_hardened):
    run = repl(lab_hardened.port, "/frobnicate\n")
    assert run.code == 2
    assert run.err_lines == ["*** unknown command /frobnicate (/help lists them; //text sends /text)"]

    run = smtpprobe("repl", f"127.0.0.1:{lab_hardened.port}", input="", timeout=30)  # no lines at all
    assert run.code == 0 and "<-  220 " in run.out


def test_not_utf8_input_is_refused_with_its_line_number(lab_hardened):
    proc = subprocess.run(
        [sys.executable, "-m", "smtpprobe", "repl", f"127.0.0.1:{lab_hardened.port}"],
        input=b"NOOP\n\xff\xfe\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert b"input line 2: not UTF-8" in proc.stderr


def test_connection_refused_is_one_line_and_exit_3():
    from tests.servers._common import free_port

    run = repl(free_port(), "EHLO x\n")
    assert run.code == 3
    assert run.err_lines[-1].startswith("smtpprobe: cannot connect to 127.0.0.1:")


def test_a_close_in_the_middle_of_a_reply_is_exit_3(hostile_server):
    server = hostile_server("closes_mid_reply")
    run = repl(server.port, "EHLO x\n")
    assert run.code == 3
    assert "*** server closed the connection in the middle of a reply: '220-hello\\r\\n220-wor'" in run.err


def test_a_missing_reply_is_exit_3(hostile_server):
    server = hostile_server("never_greets")
    run = repl(server.port, "EHLO x\n", "--timeout", "1")
    assert run.code == 3
    assert "*** no reply within 1s" in run.err


def test_a_malformed_reply_is_exit_4(hostile_server):
    server = hostile_server("binary_garbage")
    run = repl(server.port, "EHLO x\n")
    assert run.code == 4
    assert "malformed reply" in run.err


def _idle_timeout(conn, stop):
    """Greets, answers EHLO, then says 421 and closes on its own a second later."""
    conn.sendall(b"220 idle.example ESMTP\r\n")
    _read_line(conn)
    conn.sendall(b"250 idle.example\r\n")
    if not stop.wait(1.0):
        conn.sendall(b"421 4.4.2 idle.example Error: timeout exceeded\r\n")


def test_what_the_server_says_on_its_own_shows_at_once():
    server = HostileServer(_idle_timeout)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smtpprobe", "repl", f"127.0.0.1:{server.port}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
        )
        proc.stdin.write(b"EHLO x\n")
        proc.stdin.flush()  # and no more input for now: the 421 and the close must show while it waits
        seen = {proc.stdout: b"", proc.stderr: b""}
        deadline = time.monotonic() + 10
        while b"server closed the connection" not in seen[proc.stderr] and time.monotonic() < deadline:
            for stream in select.select(list(seen), [], [], 0.2)[0]:
                seen[stream] += os.read(stream.fileno(), 4096)
        assert b"<** 421 4.4.2 idle.example Error: timeout exceeded" in seen[proc.stdout]
        assert b"*** server closed the connection" in seen[proc.stderr]
        rest, _ = proc.communicate(timeout=20)  # closes its standard input: the end of the lines
        assert proc.returncode == 1  # the last reply: 421
        assert b"QUIT" not in rest
    finally:
        server.close()


def test_starttls_response_injection_is_refused_exit_12(hostile_server):
    server = hostile_server("starttls_response_injection")
    run = repl(server.port, "EHLO x\n/starttls\nNOOP\n")
    assert run.code == 12
    assert "response injection" in run.err
    assert " -> NOOP" not in run.out


def test_implicit_tls_and_a_json_transcript(lab_hardened, tmp_path):
    saved = tmp_path / "t.json"
    run = repl(lab_hardened.smtps_port, f"EHLO client.example\n/save {saved}\n", "--tls-on-connect")
    assert run.code == 0, run.out + run.err
    assert "<~  250 AUTH PLAIN LOGIN" in run.out
    events = json.loads(saved.read_text())
    assert any(e["kind"] == "received" and e["tls"] and e["text"] == "250 AUTH PLAIN LOGIN" for e in events)
