"""`run`'s progress on a terminal: one line on stderr, redrawn as results come in, drawn only once the run has
lasted a second (short runs print nothing extra) and erased before the table is printed."""

from __future__ import annotations

import sys
import time
from typing import TextIO

DELAY = 1.0


class RunProgress:
    def __init__(self, total: int, stream: TextIO | None = None, force: bool = False, delay: float = DELAY):
        self.total, self.done, self.worst = total, 0, {}
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.started, self.delay = time.monotonic(), delay
        self.drawn = False

    def __call__(self, result) -> None:
        self.done += 1
        verdict = result.verdict.value
        self.worst[verdict] = self.worst.get(verdict, 0) + 1
        elapsed = time.monotonic() - self.started
        if not self.enabled or elapsed < self.delay:
            return
        tally = ", ".join(f"{n} {v}" for v, n in sorted(self.worst.items()))
        self.stream.write(f"\rrun: {self.done}/{self.total} results ({tally}), {elapsed:.0f}s\x1b[K")
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
