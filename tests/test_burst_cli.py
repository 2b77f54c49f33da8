"""`smtpprobe burst` run as a process: the load cap sends nothing, exit codes, JSON fields, Ctrl-C, the
open-file limit, memory with 1000 held connections.

The target here is a small real asyncio SMTP greeter written for these tests (GreetServer): it counts
what arrives on the socket, which is exactly what the cap and Ctrl-C tests must prove. Real limits are
tested against Postfix and the lab in test_burst_servers.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Self

import pytest

from tests.cli import smtpprobe


class GreetServer:
    """Greets every connection with 220, answers EHLO/MAIL/RCPT with 250 and QUIT with 221, and keeps
    count: connections accepted, open now, closed by the client."""

    def __init__(self) -> None:
        self.accepted = self.open = self.closed = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> Self:
        self.thread.start()
        assert self.ready.wait(10), "greeter did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0, backlog=2048))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        try:
            writer.write(b"220 greeter ESMTP\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    break
                writer.write(b"250 ok\r\n")
            else:
                self.closed += 1  # the client hung up first
        except OSError:
            self.closed += 1
        finally:
            self.open -= 1
            writer.close()


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def listener():
    """A bare listening socket: anything that connects shows up as a pending accept."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    yield sock
    sock.close()


def assert_nothing_connected(sock: socket.socket) -> None:
    time.sleep(0.3)  # a connection started late would be queued by now
    with pytest.raises(BlockingIOError):
        sock.accept()


@pytest.mark.parametrize("args, said", [
    (["--connections", "501"], "501 connections (limit 500)"),
    (["--connections", "10", "--rate", "150"], "a rate of 150/s (limit 100/s)"),
    (["--connections", "1000", "--rate", "1000", "--hold", "5"], "1000 connections (limit 500) and a rate of 1000/s (limit 100/s)"),
])
def test_above_the_cap_nothing_is_sent(listener, args, said):
    port = listener.getsockname()[1]
    run = smtpprobe("burst", "--server", f"127.0.0.1:{port}", *args)
    assert run.code == 2, run.err
    assert run.out == ""
    assert run.err_lines == [
        (f"smtpprobe: refusing to send {said} to 127.0.0.1:{port} without --i-own-this-server; "
        "no connection was made")
    ]
    assert_nothing_connected(listener)


def test_the_owner_flag_lifts_the_cap():
    with GreetServer() as server:
        run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "-n", "600", "-c", "50",
                        "--i-own-this-server", "--format", "json")
        assert run.code == 0, run.err
        report = json.loads(run.out)
        assert (report["attempted"], report["accepted"], report["refused"], report["errors"]) == (600, 600, 0, 0)
        assert server.accepted == 600


def test_json_report_fields_and_a_full_session(tmp_path):
    with GreetServer() as server:
        run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "-n", "20", "-c", "5",
                        "--stage", "quit", "--format", "json")
    assert run.code == 0, run.err
    assert run.err == ""  # no progress bar off a terminal, no notes
    report = json.loads(run.out)
    for name in ("schema", "attempted", "accepted", "refused", "errors", "first_refusal", "refusals",
                 "connections_per_second", "banner_latency_ms"):
        assert name in report, name
    assert report["schema"] == 1
    assert (report["attempted"], report["accepted"], report["completed"]) == (20, 20, 20)
    assert report["first_refusal"] is None and report["refusals"] == {}
    assert report["peak_open"] <= 5
    assert set(report["banner_latency_ms"]) == {"p50", "p95", "max"}
    assert 0 < report["banner_latency_ms"]["p50"] <= report["banner_latency_ms"]["p95"] <= report["banner_latency_ms"]["max"]
    assert report["connections_per_second"] > 0


def test_table_report():
    with GreetServer() as server:
        run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "-n", "3", "--stage", "rcpt")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == f"Burst to 127.0.0.1:{server.port}: 3 connections, concurrency 3, rate 100/s (the safety cap), stage rcpt"
    assert "  accepted (2xx greeting)  3" in lines
    assert "  completed (stage rcpt)   3" in lines
    assert "  first refusal            none" in lines


def test_unreachable_target_exits_3(listener):
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    run = smtpprobe("burst", "--server", f"127.0.0.1:{port}", "-n", "3", "--format", "json")
    assert run.code == 3
    assert json.loads(run.out)["error_kinds"] == {"connect: Connection refused": 3}
    assert run.err_lines == [f"smtpprobe: 127.0.0.1:{port} unreachable: connect: Connection refused"]


def test_greeting_timeout_is_an_error_and_bounded(listener):
    port = listener.getsockname()[1]  # accepts (kernel backlog) but never greets
    run = smtpprobe("burst", "--server", f"127.0.0.1:{port}", "-n", "2", "--timeout", "0.5", "--format", "json")
    assert run.code == 3 and run.seconds < 10
    assert json.loads(run.out)["error_kinds"] == {"greeting: no whole reply within 0.5s": 2}


def test_ctrl_c_closes_every_socket_and_exits_130():
    with GreetServer() as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smtpprobe", "burst", "--server", f"127.0.0.1:{server.port}", "-n", "40",
             "--hold", "60", "--format", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert wait_until(lambda: server.open == 40), f"only {server.open} connections opened"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=10)
        finally:
            proc.kill()
        assert proc.returncode == 130
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1] == "smtpprobe: interrupted; every connection was closed"
        report = json.loads(out)
        assert report["interrupted"] is True and report["accepted"] == 40
        assert wait_until(lambda: server.open == 0, 5), f"{server.open} sockets still open on the server"
        assert server.closed == 40


def _run_measured(args: list[str], soft_nofile: int | None = None) -> tuple[int, str, str, float]:
    """Run the CLI, returning (exit code, stdout, stderr, peak RSS in MB of that process alone: VmHWM, written
    at exit by tests/cli's wrapper; ru_maxrss would carry over pytest's own peak through the fork)."""
    import tempfile

    from tests.cli import _WRAPPER

    def limit() -> None:
        if soft_nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft_nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "SMTPPROBE_TEST_PEAK_FILE": peak.name}, preexec_fn=limit,
                              check=False)
        kib = peak.read().strip()
    return proc.returncode, proc.stdout, proc.stderr, int(kib) / 1024 if kib else float("inf")


def test_open_file_limit_is_raised_for_held_connections_and_said():
    with GreetServer() as server:
        code, out, err, _ = _run_measured(
            ["burst", "--server", f"127.0.0.1:{server.port}", "-n", "400", "--hold", "0.5", "--format", "json",
             "--i-own-this-server"],
            soft_nofile=256)
    assert code == 0, err
    assert err.strip() == "smtpprobe: raised the open-file soft limit from 256 to 464 for 400 connections at once"
    report = json.loads(out)
    assert report["accepted"] == 400 and report["peak_open"] == 400 and report["errors"] == 0


def test_1000_held_connections_stay_under_100_mb():
    with GreetServer() as server:
        code, out, err, peak_mb = _run_measured(
            ["burst", "--server", f"127.0.0.1:{server.port}", "-n", "1000", "--hold", "1", "--i-own-this-server",
             "--format", "json"])
        assert code == 0, err
        report = json.loads(out)
        assert report["accepted"] == 1000 and report["peak_open"] == 1000
    print(f"peak RSS with 1000 held connections: {peak_mb:.1f} MB")
    assert peak_mb <= 100
