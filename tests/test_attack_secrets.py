"""Secrets wherever a credential can flow: a scenario step that sends {auth_password} (and a server that
echoes it back), the REPL's /raw AUTH with an initial response, and an AUTH answer typed before the 334
came. The password must appear in no output, report or history file, while the server really got it."""

from __future__ import annotations

import base64
import json
import shutil

import pytest

from tests.cli import smtpprobe
from tests.servers._common import unavailable

PASSWORD = "hunter2-Secret-42"
B64 = base64.b64encode(f"\0user\0{PASSWORD}".encode()).decode()


def test_auth_password_in_a_scenario_step_is_redacted_everywhere(attack_server, tmp_path):
    scenario = tmp_path / "secret.toml"
    scenario.write_text('''
[[scenario]]
id = "password-in-a-step"
title = "a step that sends the password"
basis = "rfc"
reference = "none"
why = "test"
ports = ["mx"]

[[scenario.step]]
send = "XPASS {auth_password}"
expect = { class = "2xx" }
''')
    # The server refuses it and echoes the line back, password included.
    server = attack_server(default=f"500 5.5.2 unknown command XPASS {PASSWORD}".encode())
    base = ("run", "--server", f"127.0.0.1:{server.port}", str(scenario), "--auth-password", PASSWORD,
            "--timeout", "5")
    table = smtpprobe(*base, "-v")
    as_json = smtpprobe(*base, "--format", "json")
    junit = tmp_path / "junit.xml"
    smtpprobe(*base, "--format", "junit", "--output", str(junit))
    assert f"XPASS {PASSWORD}".encode() in server.lines  # it was really sent
    for text in (table.out + table.err, as_json.out + as_json.err, junit.read_text()):
        assert PASSWORD not in text
    assert " -> XPASS <redacted>" in table.out
    doc = json.loads(as_json.out)
    [result] = doc["results"]
    assert result["verdict"] == "fail"
    assert any(e["text"] == "XPASS <redacted>" for e in result["transcript"])


def test_repl_raw_auth_initial_response_is_redacted_when_piped(attack_server):
    server = attack_server()
    run = smtpprobe("repl", f"127.0.0.1:{server.port}", "--timeout", "5",
                    input=f"EHLO me\n/raw AUTH PLAIN {B64}\\r\\n\nQUIT\n")
    assert f"AUTH PLAIN {B64}".encode() in server.lines
    assert B64 not in run.out + run.err
    assert " -> AUTH PLAIN <redacted>" in run.out


@pytest.fixture
def terminal(tmp_path):
    if shutil.which("tmux") is None:
        unavailable("tmux is not installed (scripts/install-system-deps)")
    from tests.test_repl_terminal import Terminal

    started = []

    def start(*args: str):
        started.append(Terminal(list(args), tmp_path))
        return started[-1]

    yield start
    for term in started:
        term.close()


def test_repl_raw_auth_and_early_answers_stay_out_of_screen_and_history(terminal, attack_server, tmp_path):
    user_b64 = base64.b64encode(b"user-early").decode()
    pass_b64 = base64.b64encode(PASSWORD.encode()).decode()
    # AUTH LOGIN's 334 comes after 2 s, past the REPL's 1 s timeout: the user types the answers early.
    server = attack_server(slow={"AUTH": 2.0}, auth=b"334 VXNlcm5hbWU6")
    t = terminal(f"127.0.0.1:{server.port}", "--timeout", "1")
    t.expect(r"^<-  220 attack\.example")
    t.prompt("smtp> ")
    t.line("EHLO me")
    t.expect(r"^<-  250 AUTH")
    t.line(f"/raw AUTH PLAIN {B64}\\r\\n")
    t.expect(r"^ -> AUTH PLAIN <redacted>")
    t.line("/quit")
    t.wait()
    t2 = terminal(f"127.0.0.1:{server.port}", "--timeout", "1")
    t2.expect(r"^<-  220 attack\.example")
    t2.prompt("smtp> ")
    t2.line("AUTH LOGIN")
    t2.expect(r"no reply within 1s")
    t2.line(user_b64)  # typed before the 334 came
    t2.expect(r"^ -> <redacted>")
    t2.expect(r"^<-  334 VXNlcm5hbWU6", timeout=10)
    t2.line(pass_b64)
    t2.expect(r"^ -> <redacted>")
    t2.line("/quit")
    t2.wait()
    history = (tmp_path / "history").read_text()
    screens = t.screen + t2.screen
    for secret in (B64, user_b64, pass_b64):
        assert secret not in history
        assert secret not in screens
    assert "+EHLO me" in history and "+AUTH LOGIN" in history
    assert user_b64.encode() in server.lines and pass_b64.encode() in server.lines
