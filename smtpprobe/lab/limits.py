"""Per-client connection limits, like Postfix's anvil: concurrent connections and a connection rate.

Pure bookkeeping with an injectable clock; the protocol asks `admit()` once per connection and
calls `release()` when it ends. Everything runs on the lab's one event loop, so no locking.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

from smtpprobe.lab.config import RateLimit


class ConnectionLimiter:
    def __init__(
        self,
        max_concurrent: int = 0,
        rate: RateLimit | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_concurrent = max_concurrent  # 0 = unlimited
        self.rate = rate
        self._clock = clock
        self._active: dict[str, int] = defaultdict(int)
        # Only the last count+1 attempts matter, so each client's history stays bounded.
        self._recent: dict[str, deque[float]] = defaultdict(
            lambda: deque(maxlen=rate.count + 1 if rate else 1)
        )

    def admit(self, client: str) -> bool:
        """Count a new connection from `client`; False if it is over a limit (then do not release it).

        Every attempt counts towards the rate, refused ones too, as with anvil: a client that keeps
        hammering stays refused until it slows down.
        """
        if self.rate is not None:
            now = self._clock()
            recent = self._recent[client]
            while recent and now - recent[0] >= self.rate.window:
                recent.popleft()
            recent.append(now)
            if len(recent) > self.rate.count:
                return False
        if self.max_concurrent and self._active[client] >= self.max_concurrent:
            return False
        self._active[client] += 1
        return True

    def release(self, client: str) -> None:
        if self._active.get(client, 0) > 1:
            self._active[client] -= 1
        else:
            self._active.pop(client, None)

    def active(self, client: str) -> int:
        return self._active.get(client, 0)
