"""A one-line progress bar on stderr, drawn only on a terminal and only once a run has lasted a second
(short runs print nothing extra)."""

from __future__ import annotations

import sys
from typing import TextIO

from smtpprobe.burst.worker import Counters

DELAY = 1.0
WIDTH = 30


class ProgressBar:
    def __init__(self, total: int, stream: TextIO | None = None, force: bool = False):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.drawn = False

    def __call__(self, counters: Counters, elapsed: float) -> None:
        if not self.enabled or elapsed < DELAY:
            return
        done = min(counters.done, self.total)
        filled = WIDTH * done // self.total if self.total else WIDTH
        bar = "#" * filled + "-" * (WIDTH - filled)
        self.stream.write(
            f"\r[{bar}] {done}/{self.total} done, {counters.open} open, accepted {counters.accepted}, "
            f"refused {counters.refused}, errors {counters.errors}  {elapsed:.0f}s\x1b[K"
        )
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
