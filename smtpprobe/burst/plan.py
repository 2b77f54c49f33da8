"""What a burst will do, checked before anything touches the network: bounds and the safety cap.

A burst sends load to somebody's server. Without the owner's word (`own_server`) it stays modest:
at most SAFE_CONNECTIONS connections and SAFE_RATE new connections a second. Even with it, every
count and wait has a hard ceiling so a typo cannot start an endless run.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from smtpprobe.caps import SAFE_CONNECTIONS, SAFE_RATE
from smtpprobe.errors import UsageError

STAGES = ("banner", "ehlo", "mail", "rcpt", "quit")
TLS_MODES = ("none", "starttls", "implicit")

SAFE_CONCURRENCY = SAFE_CONNECTIONS

MAX_CONNECTIONS = 100_000  # hard ceilings, whoever owns the server
MAX_CONCURRENCY = 10_000
MAX_RATE = 100_000.0
MAX_HOLD = 3600.0
MAX_TIMEOUT = 600.0
MIN_RATE = 0.01


@dataclass
class BurstPlan:
    host: str
    port: int = 25
    connections: int = 10
    concurrency: int | None = None  # None: all connections at once (up to MAX_CONCURRENCY)
    rate: float | None = None  # new connections per second; None: as fast as concurrency allows
    hold: float = 0.0  # seconds each connection stays open after reaching `stage`
    stage: str = "banner"
    tls: str = "none"  # none | starttls | implicit
    tls_verify: bool = False
    tls_name: str | None = None
    timeout: float = 10.0  # per reply, the greeting included
    connect_timeout: float = 10.0
    helo: str = ""  # "" = this machine's host name
    sender: str | None = None  # None = burst@<helo>; "" = the null sender <>
    recipient: str = "postmaster"  # RFC 5321 §4.5.1: a server must accept <postmaster> without a domain
    local_address: str | None = None
    family: int = socket.AF_UNSPEC
    own_server: bool = False  # --i-own-this-server: lift the safety cap (not the hard ceilings)

    def __post_init__(self) -> None:
        if not self.helo:
            from smtpprobe.identity import default_helo

            self.helo = default_helo()
        if self.sender is None:
            self.sender = f"burst@{self.helo}"

    @property
    def effective_concurrency(self) -> int:
        return min(self.concurrency or self.connections, self.connections)

    @property
    def effective_rate(self) -> float | None:
        """New connections a second: --rate, held under the safety cap's rate unless the server is ours."""
        if self.own_server:
            return self.rate
        return min(self.rate or SAFE_RATE, SAFE_RATE)

    @property
    def stage_index(self) -> int:
        return STAGES.index(self.stage)

    def validate(self) -> None:
        """Raise UsageError naming the first bad value; also enforces the safety cap."""
        if not self.host:
            raise UsageError("--server: empty host")
        if self.stage not in STAGES:
            raise UsageError(f"--stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.tls not in TLS_MODES:
            raise UsageError(f"tls must be one of {', '.join(TLS_MODES)}, not {self.tls!r}")
        from smtpprobe import validate

        validate.host(self.host)
        validate.helo_name(self.helo)
        if self.sender:
            validate.address(self.sender, "--from")
        validate.address(self.recipient, "--to")
        if self.tls == "starttls" and self.stage == "banner":
            raise UsageError("--tls (STARTTLS) needs --stage ehlo or later: STARTTLS follows EHLO")
        _bounded("--connections", self.connections, 1, MAX_CONNECTIONS)
        if self.concurrency is not None:
            _bounded("--concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        if self.rate is not None:
            _bounded("--rate", self.rate, MIN_RATE, MAX_RATE)
        _bounded("--hold", self.hold, 0, MAX_HOLD)
        _bounded("--timeout", self.timeout, 0.1, MAX_TIMEOUT)
        _bounded("--connect-timeout", self.connect_timeout, 0.1, MAX_TIMEOUT)
        if self.effective_concurrency > MAX_CONCURRENCY:
            raise UsageError(
                f"{self.connections} connections at once is over the ceiling of {MAX_CONCURRENCY}; "
                f"add --concurrency {MAX_CONCURRENCY} or less"
            )
        self.check_cap()

    def check_cap(self) -> None:
        """Refuse a heavy burst unless the user said the server is theirs."""
        if self.own_server:
            return
        problems = []
        if self.connections > SAFE_CONNECTIONS:
            problems.append(f"{self.connections} connections (limit {SAFE_CONNECTIONS})")
        if self.rate is not None and self.rate > SAFE_RATE:
            problems.append(f"a rate of {self.rate:g}/s (limit {SAFE_RATE:g}/s)")
        if problems:
            raise UsageError(
                f"refusing to send {' and '.join(problems)} to {self.host}:{self.port} without "
                "--i-own-this-server; no connection was made"
            )


def _bounded(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:  # nan fails this too
        raise UsageError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
