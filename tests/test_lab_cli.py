"""`smtpprobe lab` as a user runs it: a subprocess, its listening lines, Ctrl-C, SIGTERM, errors."""

from __future__ import annotations

import re
import signal
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers._lab_process import FREE, LabProcess
from tests.servers.lab import Dialog

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def run_lab() -> Iterator:
    started: list[LabProcess] = []

    def start(*args: str) -> LabProcess:
        process = LabProcess(*args)
        started.append(process)
        process.wait_for(r"^lab: press Ctrl-C to stop$")
        return process

    yield start
    for process in started:
        process.kill()



def test_listening_lines_talk_then_ctrl_c(run_lab, tmp_path: Path) -> None:
    lab = run_lab(
        *FREE,
        "--maildir",
        str(tmp_path),
        "--domain",
        "one.test",
        "--domain",
        "two.test",
        "--user",
        "alice:secret",
    )
    text = "\n".join(lab.lines)
    assert "lab: hardened profile, hostname mx.lab.test" in text
    assert "lab: local domains: one.test, two.test" in text
    assert "lab: AUTH users: alice/secret" in text
    assert f"lab: mail is written to {tmp_path}" in text
    assert "lab: limits: 10 connections per client, rate limit off" in text
    ports = lab.ports()
    assert set(ports) == {"mx", "submission", "smtps"} and all(ports.values())
    assert re.search(r"^lab: mx \(STARTTLS\) on 127\.0\.0\.1:\d+$", text, re.MULTILINE)

    with smtplib.SMTP("127.0.0.1", ports["mx"], timeout=10, local_hostname="client.example.org") as s:
        s.sendmail("a@example.org", ["bob@two.test"], "Subject: cli\r\n\r\nhello\r\n")
    received = lab.wait_for(r"^lab: mx: ")
    assert re.fullmatch(r"lab: mx: \w+ from <a@example.org> to <bob@two.test>, \d+ bytes", received)
    assert len(list(tmp_path.iterdir())) == 1

    code, out, err = lab.finish(signal.SIGINT)
    assert (code, err) == (0, "")
    assert out.endswith("lab: stopped") and "Traceback" not in out


def test_sigterm_stops_cleanly_with_a_session_open(run_lab) -> None:
    lab = run_lab(*FREE, "--profile", "open")
    text = "\n".join(lab.lines)
    assert "lab: open profile" in text and "limits:" not in text
    with Dialog("127.0.0.1", lab.ports()["mx"]) as session:
        assert session.reply()[0] == 220
        session.cmd("MAIL FROM:<a@example.org>")  # mid-transaction
        code, out, err = lab.finish(signal.SIGTERM)
        assert session.closed_by_peer()
    assert (code, err) == (0, "")
    assert out.endswith("lab: stopped")


def run_once(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpprobe", "lab", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_port_in_use_exit_3_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_once("--port", str(port), "--submission-port", "0", "--smtps-port", "0")
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr == (
        f"smtpprobe lab: cannot listen on 127.0.0.1:{port} (mx): Address already in use; is another lab running? "
        "`smtpprobe lab --port 0` picks free ports and prints them\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate-limit", "lots"), "--rate-limit wants N/SECONDS"),
        (("--user", "nopassword"), "--user wants NAME:PASSWORD"),
        (("--cert", "/nonexistent.pem"), "--cert and --key go together"),
    ],
)
def test_bad_options_exit_2_one_line(args: tuple[str, ...], message: str) -> None:
    result = run_once(*FREE, *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_greet_pause_refuses_a_client_that_talks_first(run_lab) -> None:
    lab = run_lab(*FREE, "--greet-pause", "0.5")
    assert "lab: greet pause: 0.5s (a client that talks first gets 554 5.5.0)" in lab.lines
    with socket.create_connection(("127.0.0.1", lab.ports()["mx"]), timeout=10) as early:
        early.sendall(b"EHLO early.example.org\r\n")  # before the greeting
        assert early.recv(4096) == b"554 5.5.0 Error: SMTP protocol synchronization\r\n"
    with Dialog("127.0.0.1", lab.ports()["mx"]) as patient:  # waits for the greeting: served as usual
        assert patient.reply()[0] == 220


def test_port_0_picks_free_ports_for_every_listener_and_prints_them_for_the_shell() -> None:
    """Issue 15: `smtpprobe lab --port 0` never collides with another lab, and says which ports it took in a
    line the docs' examples can paste ($PORT, $SUBMISSION_PORT, $SMTPS_PORT)."""
    lab = LabProcess("--port", "0")
    try:
        line = lab.wait_for("^lab: for the examples in the docs, paste: ")
        ports = lab.ports()
        assert set(ports) == {"mx", "submission", "smtps"} and 0 not in ports.values()
        assert not {2525, 5870, 4650} & set(ports.values())
        assert line.endswith(
            f"export PORT={ports['mx']} SUBMISSION_PORT={ports['submission']} SMTPS_PORT={ports['smtps']}"
        )
        for port in ports.values():  # each one really listens
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        code, _, _ = lab.finish(signal.SIGTERM)
    assert code == 0
