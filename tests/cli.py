"""Running smtpprobe the way a user does: as a process, with its exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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


# Runs smtpprobe's CLI and, at exit, writes the process's peak resident set (VmHWM, which starts afresh at
# exec; ru_maxrss would carry over the pytest parent's own peak through fork) to the file named in the env.
_WRAPPER = """
import atexit, os, runpy, sys
def _report():
    with open('/proc/self/status') as status, open(os.environ['SMTPPROBE_TEST_PEAK_FILE'], 'w') as out:
        out.write(next(line.split()[1] for line in status if line.startswith('VmHWM:')))
atexit.register(_report)
sys.argv = ['smtpprobe', *sys.argv[1:]]
runpy.run_module('smtpprobe', run_name='__main__')
"""


def smtpprobe(*args: str, timeout: float = 60, input: str | None = None, env: dict | None = None) -> Run:
    """Run smtpprobe with ARGS as a process, as a user would, and measure its peak memory."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", _WRAPPER, *args], capture_output=True, text=True, timeout=timeout, input=input,
            env={**os.environ, **(env or {}), "SMTPPROBE_TEST_PEAK_FILE": peak.name}, check=False,
        )
        seconds = time.monotonic() - started
        kib = peak.read().strip()
    return Run(proc.returncode, proc.stdout, proc.stderr, seconds, int(kib) / 1024 if kib else 0.0)
