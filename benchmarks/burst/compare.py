#!/usr/bin/env python3
"""Compare `smtpprobe burst --stage quit` with Postfix's smtp-source, pair by pair, into one smtp-sink.

    sudo .venv/bin/python benchmarks/burst/compare.py [--pairs 5] [--sessions 5000] [--concurrency 10]

smtp-source sends whole messages (EHLO, MAIL, RCPT, DATA, QUIT: one session each); burst sends whole
sessions without DATA (EHLO, MAIL, RCPT, QUIT, waiting for the 221). Each pair runs the two back to
back against the same sink, so both see the same machine load. Prints figures only; writes no files.
Also measures the peak memory of `burst` holding 1000 connections open at once (goal <= 100 MB).
smtp-sink needs `-u nobody` when run as root (scripts/install-system-deps installs postfix).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([sink, *user, "-m", "2048", f"127.0.0.1:{port}", "2048"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"220"):
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("smtp-sink did not start")


def smtp_source(port: int, sessions: int, concurrency: int) -> float:
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    started = time.monotonic()
    subprocess.run([source, "-s", str(concurrency), "-m", str(sessions), "-f", "bench@example.org",
                    "-t", "sink@example.org", f"127.0.0.1:{port}"], check=True, timeout=600)
    return sessions / (time.monotonic() - started)


def run_burst(args: list[str], env: dict | None = None) -> tuple[dict, float, float]:
    """(report, wall seconds, peak RSS MB of the burst process)."""
    started = time.monotonic()
    out_r, out_w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "smtpprobe", "burst", *args, "--i-own-this-server",
                             "--format", "json"], stdout=out_w, cwd=ROOT, env={**os.environ, **(env or {})})
    os.close(out_w)
    with os.fdopen(out_r) as f:
        out = f.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"burst failed: {out}")
    return json.loads(out), time.monotonic() - started, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--sessions", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--held", type=int, default=1000, help="connections held open for the memory figure")
    opts = ap.parse_args()
    try:
        import uvloop  # noqa: F401
        loops = [("uvloop", {}), ("asyncio", {"SMTPPROBE_NO_UVLOOP": "1"})]
    except ImportError:
        loops = [("asyncio", {})]

    port = free_port()
    sink = start_sink(port)
    rows: list[tuple[float, dict[str, float]]] = []
    try:
        print(f"smtp-sink on 127.0.0.1:{port}; {opts.sessions} sessions per run, concurrency {opts.concurrency}; "
              f"{os.cpu_count()} CPUs")
        header = f"{'pair':>4}  {'smtp-source msg/s':>17}" + "".join(f"  {'burst/' + n + ' sess/s':>20}  {'ratio':>5}" for n, _ in loops)
        print(header)
        for pair in range(1, opts.pairs + 1):
            source_rate = smtp_source(port, opts.sessions, opts.concurrency)
            rates = {}
            for name, env in loops:
                report, _, _ = run_burst(["--server", f"127.0.0.1:{port}", "-n", str(opts.sessions), "-c",
                                          str(opts.concurrency), "--stage", "quit"], env)
                if report["completed"] != opts.sessions:
                    sys.exit(f"burst completed {report['completed']} of {opts.sessions}: {report}")
                rates[name] = report["sessions_per_second"]
            rows.append((source_rate, rates))
            print(f"{pair:>4}  {source_rate:>17.0f}" + "".join(f"  {rates[n]:>20.0f}  {rates[n] / source_rate:>5.2f}" for n, _ in loops))
        med_source = statistics.median(r[0] for r in rows)
        line = f"{'med':>4}  {med_source:>17.0f}"
        for name, _ in loops:
            med = statistics.median(r[1][name] for r in rows)
            ratios = statistics.median(r[1][name] / r[0] for r in rows)
            line += f"  {med:>20.0f}  {ratios:>5.2f}"
        print(line)
        for name, env in loops:
            report, wall, peak = run_burst(["--server", f"127.0.0.1:{port}", "-n", str(opts.held), "--hold", "2"], env)
            print(f"burst/{name} holding {opts.held} connections: peak open {report['peak_open']}, "
                  f"accepted {report['accepted']}, peak RSS {peak:.1f} MB, {wall:.1f}s wall")
    finally:
        sink.send_signal(signal.SIGTERM)
        try:
            sink.wait(5)
        except subprocess.TimeoutExpired:
            sink.kill()


if __name__ == "__main__":
    main()
