"""Running smtpprobe the way a user does: as a process, with its exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    peak_rss_mb: float = 0.0  # the largest resident set of this process (Linux reports KiB)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def smtpprobe(*args: str, timeout: float = 60, input: str | None = None, env: dict | None = None) -> Run:
    """Run `python -m smtpprobe ARGS`; the child is reaped with wait4 so its own peak memory is known."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpprobe", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )
    output: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n=name, f=stream: output.__setitem__(n, f.read()))
               for name, stream in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    with proc.stdin:
        if input:
            proc.stdin.write(input)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.005)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    return Run(proc.returncode, output["out"], output["err"], time.monotonic() - started, usage.ru_maxrss / 1024)
