"""Running smtpprobe the way a user does: as a process, with its exit code, stdout and stderr."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def smtpprobe(*args: str, timeout: float = 60, input: str | None = None, env: dict | None = None) -> Run:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "smtpprobe", *args], capture_output=True, text=True, timeout=timeout,
        input=input, env={**os.environ, **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def children_peak_rss_mb() -> float:
    """The largest resident set of any finished child process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
