"""`smtpprobe lab` as a user runs it: a subprocess whose output lines are read in a thread, so a test can
wait for a line by pattern (bounded), read the ports it printed, and stop it."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time

LISTEN = re.compile(r"^lab: (\w+) \((.*)\) on (\S+):(\d+)$")
FREE = ("--port", "0", "--submission-port", "0", "--smtps-port", "0")


class LabProcess:
    def __init__(self, *args: str, command: list[str] | None = None, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, "-m", "smtpprobe"]), "lab", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; got {self.lines!r}")

    def ports(self) -> dict[str, int]:
        return {m[1]: int(m[4]) for line in self.lines if (m := LISTEN.match(line))}

    def finish(self, sig: int) -> tuple[int, str, str]:
        """(exit code, all stdout, stderr) after signal SIG."""
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        rest: list[str] = []
        while (line := self._queue.get(timeout=5)) is not None:
            rest.append(line)
        assert self.proc.stderr is not None
        return self.proc.returncode, "\n".join(self.lines + rest), self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
