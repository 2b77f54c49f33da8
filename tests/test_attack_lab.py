"""`smtpprobe lab` left running must survive its clients: an endless DATA line or a huge message keeps
the lab's memory bounded (VmHWM measured inside the lab process), a non-loopback --host warns, and without
--user the login is a fresh random password, printed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import _WRAPPER, smtpprobe
from tests.servers._common import unavailable
from tests.servers._lab_process import FREE, LabProcess
from tests.servers.lab import Dialog

pytestmark = pytest.mark.timeout(120)


class MeasuredLab(LabProcess):
    """`smtpprobe lab` as a process whose peak resident set (VmHWM) is written at exit."""

    def __init__(self, *args: str, prefix: list[str] | None = None):
        self.peak_file = tempfile.NamedTemporaryFile("r", suffix=".peak")  # noqa: SIM115 - closed in kill()
        super().__init__(*args, command=[*(prefix or []), sys.executable, "-c", _WRAPPER],
                         env={**os.environ, "SMTPPROBE_TEST_PEAK_FILE": self.peak_file.name})
        self.wait_for(r"^lab: press Ctrl-C to stop$")

    def stop(self) -> tuple[int, float, str]:
        """(exit code, peak RSS in MB, stderr) after Ctrl-C."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        assert self.proc.stderr is not None
        kib = self.peak_file.read().strip()
        return self.proc.returncode, int(kib) / 1024 if kib else 0.0, self.proc.stderr.read()

    def kill(self) -> None:
        super().kill()
        self.peak_file.close()


@pytest.fixture
def measured_lab() -> Iterator:
    started: list[MeasuredLab] = []

    def start(*args: str, prefix: list[str] | None = None) -> MeasuredLab:
        started.append(MeasuredLab(*args, prefix=prefix))
        return started[-1]

    yield start
    for lab in started:
        lab.kill()


def _to_data(port: int) -> Dialog:
    d = Dialog("127.0.0.1", port, timeout=10)
    assert d.reply()[0] == 220
    for line, code in (("EHLO client.example.org", "250"), ("MAIL FROM:<a@client.example.org>", "250"),
                       ("RCPT TO:<postmaster@lab.test>", "250"), ("DATA", "354")):
        assert d.cmd(line).startswith(code), line
    return d


@pytest.mark.parametrize("profile", ["hardened", "open"])
def test_an_endless_data_line_is_cut_off_and_memory_stays_bounded(measured_lab, profile):
    lab = measured_lab(*FREE, "--profile", profile)
    d = _to_data(lab.ports()["mx"])
    _flood(d)
    code, peak_mb, err = lab.stop()
    assert (code, err) == (0, "")
    assert peak_mb < 100, f"lab peak RSS {peak_mb:.0f} MB"


@pytest.mark.parametrize("profile", ["hardened", "open"])
def test_an_endless_command_line_keeps_memory_bounded(measured_lab, profile):
    lab = measured_lab(*FREE, "--profile", profile)
    d = Dialog("127.0.0.1", lab.ports()["mx"], timeout=10)
    assert d.reply()[0] == 220
    _flood(d, limit=200 * (1 << 20), must_close=False)
    code, peak_mb, err = lab.stop()
    assert (code, err) == (0, "")
    assert peak_mb < 100, f"lab peak RSS {peak_mb:.0f} MB"


def _flood(d: Dialog, limit: int = 300 * (1 << 20), must_close: bool = True) -> None:
    """Send LIMIT bytes without a line end, or until the lab hangs up (MUST_CLOSE: within 64 MiB)."""
    chunk, sent, started = b"x" * (1 << 20), 0, time.monotonic()
    try:
        while sent < limit:
            d.send(chunk)
            sent += len(chunk)
    except OSError:  # the lab hung up; our sends then fail
        pass
    if must_close:
        assert sent < 64 * (1 << 20), f"the lab took {sent >> 20} MiB of one line before hanging up"
    d.close()
    assert time.monotonic() - started < 60


def test_a_huge_message_is_refused_with_552_and_memory_stays_bounded(measured_lab):
    lab = measured_lab(*FREE)
    d = _to_data(lab.ports()["mx"])
    line = b"y" * 998 + b"\r\n"
    for _ in range(50):  # 50 MB of lines, five times the 10 MB SIZE
        d.send(line * 1000)
    d.send(b".\r\n")
    assert d.reply()[0] == 552
    d.close()
    code, peak_mb, _ = lab.stop()
    assert code == 0 and peak_mb < 100, f"lab peak RSS {peak_mb:.0f} MB"


def test_no_user_given_means_a_fresh_random_password_that_works(measured_lab):
    first = measured_lab(*FREE)
    second = measured_lab(*FREE)
    passwords = []
    for lab in (first, second):
        [line] = [x for x in lab.lines if x.startswith("lab: AUTH users: ")]
        user, _, password = line.removeprefix("lab: AUTH users: ").partition("/")
        assert user == "user" and password != "password" and len(password) >= 16
        passwords.append(password)
    assert passwords[0] != passwords[1]
    port = first.ports()["submission"]
    send = ("send", "--server", f"127.0.0.1:{port}", "--tls", "--auth", "PLAIN", "--auth-user", "user",
            "--to", "postmaster@lab.test", "--from", "a@client.example.org", "--helo", "client.example.org",
            "--quit-after", "auth", "--timeout", "10")
    assert smtpprobe(*send, "--auth-password", passwords[0]).code == 0
    assert smtpprobe(*send, "--auth-password", "password").code == Exit.AUTH


def test_a_non_loopback_host_gets_a_warning(measured_lab):
    """In a network namespace of its own, a documentation address (RFC 5737) added to its loopback link:
    the lab listens on a non-loopback address that nothing outside the namespace can reach."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        unavailable("needs root, unshare and ip for a private network namespace")
    setup = 'ip link set lo up && ip addr add 192.0.2.10/32 dev lo && exec "$@"'
    lab = measured_lab(*FREE, "--host", "192.0.2.10", prefix=["unshare", "-n", "sh", "-c", setup, "sh"])
    assert lab.ports()["mx"]
    code, _, err = lab.stop()
    assert code == 0
    assert "lab: WARNING: listening on 192.0.2.10, not a loopback address" in err


def test_loopback_hosts_get_no_warning(measured_lab):
    lab = measured_lab(*FREE, "--host", "127.0.0.1")
    code, _, err = lab.stop()
    assert (code, err) == (0, "")
    assert socket  # (imported for Dialog's errors)
