"""The burst safety cap for a whole run, not one burst: every burst started without the owner's word
(`own_server`) draws on one budget of connections and one steady rate, however many bursts run, one
after another (a scenario with 30 burst cases) or at the same time (scenarios run in threads). A run
(`smtpprobe burst`, or one `run_all` of scenarios) starts a fresh budget.

Without --rate a single burst is held to the same rate: the cap holds whatever the options. Kept apart
from smtpprobe.burst so the scenario runner can start a budget without importing asyncio and ssl.
"""

from __future__ import annotations

import threading
import time

from smtpprobe.errors import UsageError


class Budget:
    def __init__(self, connections: int, rate: float):
        self.connections, self.rate = connections, rate
        self.used = 0
        self._next_start = 0.0
        self._lock = threading.Lock()

    def new_run(self) -> None:
        with self._lock:
            self.used = 0

    def reserve(self, count: int, where: str) -> None:
        """Take COUNT connections from the budget, or refuse before any is made."""
        with self._lock:
            if self.used + count > self.connections:
                raise UsageError(
                    f"refusing a burst of {count} connections to {where}: this run has already made {self.used} "
                    f"of the {self.connections} burst connections allowed without --i-own-this-server"
                )
            self.used += count

    def delay(self) -> float:
        """Seconds to wait before starting the next connection, keeping every burst together under the
        rate (the slot is taken now: callers start their connection after sleeping this long)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self.rate
            return start - now


SAFE_CONNECTIONS = 500  # burst connections in one run without --i-own-this-server
SAFE_RATE = 100.0  # new connections per second, without --i-own-this-server
BURSTS = Budget(SAFE_CONNECTIONS, SAFE_RATE)
