"""`smtpprobe repl` on a terminal, checked as a person would: in tmux (a real pseudo-terminal and a real
terminal emulator), keys sent with send-keys, the screen read with capture-pane. Against the lab and a real
Postfix, plus purpose-built servers for what a server says on its own."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.servers._common import unavailable
from tests.servers.hostile import HostileServer, _read_line


class Terminal:
    """The REPL in a private tmux server (its own socket), 200x50. Every wait is bounded."""

    def __init__(self, args: list[str], tmp: Path):
        self.socket = f"smtpprobe-repl-test-{uuid.uuid4().hex[:12]}"
        conf = tmp / f"{self.socket}.conf"
        conf.write_text("set -g history-limit 5000\n")
        repl = shlex.join(
            [
                "env",
                "-u",
                "SMTPPROBE_AUTH_PASSWORD",
                f"SMTPPROBE_REPL_HISTORY={tmp / 'history'}",
                "NO_COLOR=1",
                sys.executable,
                "-m",
                "smtpprobe",
                "repl",
                *args,
            ]
        )
        # A shell around it reports the exit status on screen (tmux's own pane_dead_status proved unreliable
        # here: the exited REPL sometimes stayed a zombie, unseen by tmux) and keeps the pane for reading.
        command = f"{repl}; echo REPL-EXIT=$?; sleep 300"
        self._tmux("-f", str(conf), "new-session", "-d", "-s", "repl", "-x", "200", "-y", "50", command)
        self.seen = 0  # expect() searches the screen after its last match

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout

    @property
    def screen(self) -> str:
        """The whole pane, scrollback included, wrapped lines joined."""
        text = self._tmux("capture-pane", "-p", "-J", "-S", "-5000", "-t", "repl")
        return "\n".join(line.rstrip() for line in text.splitlines())

    def expect(self, pattern: str, timeout: float = 15) -> re.Match:
        """A line of output matching `pattern` (stable output only: not the prompt line, see prompt())."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            if match := regex.search(self.screen, self.seen):
                self.seen = match.end()
                return match
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} did not show within {timeout}s; the screen:\n{self.screen}"
                )
            time.sleep(0.1)

    def prompt(self, text: str, timeout: float = 15) -> None:
        """Wait until the last line on screen is this prompt (nothing typed after it yet unless in `text`)."""
        deadline = time.monotonic() + timeout
        while not (lines := self.screen.rstrip("\n").splitlines()) or lines[-1] != text.rstrip():
            if time.monotonic() > deadline:
                raise AssertionError(f"no prompt {text!r} within {timeout}s; the screen:\n{self.screen}")
            time.sleep(0.1)

    def shows(self, pattern: str, timeout: float = 15) -> None:
        """Wait until the screen shows `pattern` anywhere after the last expect(), without moving past it
        (for what gets redrawn: a completion, the prompt line)."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while not regex.search(self.screen, self.seen):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} did not show within {timeout}s; the screen:\n{self.screen}"
                )
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "repl", *keys)

    def line(self, text: str) -> None:
        self._tmux("send-keys", "-t", "repl", "-l", text)
        self.keys("Enter")

    def wait(self, timeout: float = 20) -> int:
        """The REPL's exit status, once it has exited."""
        return int(self.expect(r"^REPL-EXIT=(\d+)$", timeout).group(1))

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10, check=False
        )


@pytest.fixture
def terminal(tmp_path):
    if shutil.which("tmux") is None:
        unavailable("tmux is not installed (scripts/install-system-deps)")
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        started.append(Terminal(list(args), tmp_path))
        return started[-1]

    yield start
    for term in started:
        term.close()


def test_lab_starttls_then_auth_by_hand(terminal, lab_hardened, tmp_path):
    marker = uuid.uuid4().hex
    t = terminal(f"127.0.0.1:{lab_hardened.submission_port}", "--timeout", "10")
    t.expect(r"^<-  220 mx\.lab\.test ESMTP")
    t.expect(r"^   \^ 220 = ")  # every reply carries a note
    t.prompt("smtp> ")
    t.line("/ehlo client.example")
    t.expect(r"^<-  250 STARTTLS")
    t.line("MAIL FROM:<user@lab.test>")
    t.expect(r"^<\*\* 530 5\.7\.0 Must issue a STARTTLS command first")
    t.line("/auth plain user")
    t.expect(r"^\*\*\* refusing to send a password over a plaintext connection")
    t.line("/starttls")
    t.expect(r"^<-  220 2\.0\.0 Ready to start TLS")
    t.expect(r"^=== TLS started with cipher TLSv1\.[23]:")
    t.expect(r"^=== TLS peer names mx\.lab\.test")
    t.prompt("smtp~> ")  # the prompt says TLS is on
    t.line("/ehlo client.example")
    t.expect(r"^<~  250 AUTH PLAIN LOGIN")
    t.line("/auth login user")
    t.prompt("Password:")
    t.line("password")
    t.expect(r"^ ~> AUTH LOGIN$")
    t.expect(r"^ ~> <redacted>$")
    t.expect(r"^<~  235 2\.7\.0 Authentication successful")
    assert "password" not in t.screen.split("Password:", 1)[1]  # not echoed, not shown
    t.line("MAIL FROM:<user@lab.test>")
    t.expect(r"^<~  250 2\.1\.0 Ok")
    t.line("RCPT TO:<postmaster@lab.test>")
    t.expect(r"^<~  250 2\.1\.5 Ok")
    t.line("/data")
    t.expect(r"^<~  354 ")
    for body_line in (f"Subject: {marker}", "", ".dot first", "."):
        t.prompt("data>")
        t.line(body_line)
    t.expect(r"^ ~> \.\.dot first$")
    t.expect(r"^<~  250 2\.0\.0 Ok: queued as ")
    saved = tmp_path / "saved.txt"
    t.line(f"/save {saved}")
    t.expect(r"^=== transcript saved to ")
    t.line("/quit")
    t.expect(r"^<~  221 2\.0\.0 Bye")
    assert t.wait() == 0
    text = saved.read_text()
    assert " ~> <redacted>" in text and "password" not in text and "dXNlcg==" not in text
    message = next(m for m in lab_hardened.messages if marker.encode() in m.data)
    assert message.authenticated_as == "user" and b"\r\n.dot first\r\n" in message.data


def test_postfix_session_with_history_and_completion(terminal, postfix_strict, tmp_path):
    marker = uuid.uuid4().hex
    t = terminal(f"127.0.0.1:{postfix_strict.smtp_port}", "--timeout", "10")
    t.expect(r"^<-  220 mx\.lab\.test ESMTP")
    t.prompt("smtp> ")
    t.keys("-l", "eh")
    t.keys("Tab")  # completes the verb
    t.shows(r"^smtp> EHLO$")
    t.line(" client.example")
    t.expect(r"^ -> EHLO client\.example$")
    t.expect(r"^<-  250-STARTTLS")
    t.line("/starttls")
    t.expect(r"^=== TLS started with cipher ")
    t.line("EHLO client.example")
    t.expect(r"^ ~> EHLO client\.example$")
    t.line("MAIL FROM:<sender@example.org>")
    t.expect(r"^<~  250 2\.1\.0 Ok")
    t.line("RCPT TO:<victim@example.net>")
    t.expect(r"^<~\* 554 5\.7\.1 <victim@example\.net>: Relay access denied")
    t.expect(r"^   \^ 554 = ")
    t.line(f"RCPT TO:<{postfix_strict.local_rcpt}>")
    t.expect(r"^<~  250 2\.1\.5 Ok")
    t.line("DATA")  # by hand, as in telnet: the body lines get no reply until the dot
    t.expect(r"^<~  354 End data with")
    for body_line in (f"Subject: {marker}", "", "by hand", "."):
        t.prompt("data>")
        t.line(body_line)
    t.expect(r"^<~  250 2\.0\.0 Ok: queued as ")
    t.line("/explain 550 5.1.1 User unknown")
    t.expect(r"550")
    t.prompt("smtp~> ")
    t.keys("C-d")  # leaves, with a QUIT
    t.expect(r"^ ~> QUIT$")
    t.expect(r"^<~  221 2\.0\.0 Bye")
    assert t.wait() == 0  # the last reply before leaving: 250
    assert len([m for m in postfix_strict.delivered(postfix_strict.local_rcpt) if marker.encode() in m]) == 1
    history = (tmp_path / "history").read_text()
    assert "+EHLO client.example" in history and "+/starttls" in history
    assert "by hand" not in history  # message lines are not history

    again = terminal(f"127.0.0.1:{postfix_strict.smtp_port}", "--timeout", "10")
    again.prompt("smtp> ")
    again.keys("Up")  # the last line of the previous run
    again.prompt("smtp> /explain 550 5.1.1 User unknown")
    again.keys("C-u")
    again.line("/quit")
    assert again.wait() == 0


def _says_421_later(conn, stop):
    conn.sendall(b"220 idle.example ESMTP\r\n")
    _read_line(conn)
    conn.sendall(b"250 idle.example\r\n")
    if not stop.wait(1.5):
        conn.sendall(b"421 4.4.2 idle.example Error: timeout exceeded\r\n")


def test_a_reply_and_a_close_show_while_you_type(terminal):
    server = HostileServer(_says_421_later)
    try:
        t = terminal(f"127.0.0.1:{server.port}", "--timeout", "5")
        t.line("EHLO x")
        t.expect(r"^<-  250 idle\.example")
        t.prompt("smtp> ")
        t.keys("-l", "NOO")  # half a line typed when the server speaks
        t.expect(r"^<\*\* 421 4\.4\.2 idle\.example Error: timeout exceeded", timeout=10)
        t.expect(r"^\*\*\* server closed the connection")
        t.expect(r"not connected any more")
        t.prompt("(closed)> NOO")  # the line being typed survives, under the new prompt
        t.line("P")
        t.expect(r"^\*\*\* not connected")
        t.line("/quit")
        assert t.wait() == 1  # the last reply: 421
    finally:
        server.close()


def test_ctrl_c_stops_a_wait_without_leaving(terminal, hostile_server):
    server = hostile_server("never_greets")
    t = terminal(f"127.0.0.1:{server.port}", "--timeout", "30")
    t.expect(r"^=== Connected to 127\.0\.0\.1")
    time.sleep(0.5)
    t.keys("C-c")  # while waiting for the greeting
    t.expect(r"=== stopped waiting")
    t.prompt("smtp> ")
    t.line("/quit")
    assert t.wait() == 3  # no reply ever came
