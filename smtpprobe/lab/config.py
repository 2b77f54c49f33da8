"""LabConfig: everything the lab server can be told, plus parsers for the CLI's option strings.

No I/O and no costly imports here: `from smtpprobe.lab import LabConfig` must stay cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from smtpprobe.errors import UsageError

Profile = Literal["hardened", "open"]
PROFILES: tuple[str, ...] = ("hardened", "open")

DEFAULT_HOSTNAME = "mx.lab.test"
DEFAULT_DOMAINS: tuple[str, ...] = ("lab.test",)
DEFAULT_USERS: dict[str, str] = {"user": "password"}
DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 10
MAX_GREET_PAUSE = 10.0

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class RateLimit:
    """At most `count` new connections per client within `window` seconds."""

    count: int
    window: float

    def __str__(self) -> str:
        return f"{self.count}/{self.window:g}s"


@dataclass
class LabConfig:
    """How to run the lab. Ports set to 0 are picked free at start; None disables that listener."""

    profile: Profile = "hardened"
    host: str = "127.0.0.1"
    port: int | None = 2525  # mx role: STARTTLS offered, not required (RFC 3207 §4 for a public MX)
    submission_port: int | None = 5870  # 587 role: STARTTLS then AUTH required
    smtps_port: int | None = 4650  # 465 role: implicit TLS (RFC 8314), AUTH required
    hostname: str = DEFAULT_HOSTNAME
    domains: tuple[str, ...] = DEFAULT_DOMAINS
    users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))
    max_connections_per_client: int = DEFAULT_MAX_CONNECTIONS_PER_CLIENT  # 0 = unlimited
    rate_limit: RateLimit | None = None  # off by default, like Postfix's connection rate limit
    maildir: Path | None = None  # one file per message; None = not written anywhere
    keep_messages: int = 1000  # how many received messages LabServer.messages keeps (0 = none)
    cert: Path | None = None  # PEM certificate (chain); None = self-signed, generated at start
    key: Path | None = None
    timeout: float = 300.0  # idle timeout per command, RFC 5321 §4.5.3.2.7 minimum
    greet_pause: float = 0.0  # hardened: seconds to wait before the greeting, to catch early talkers

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise UsageError(f"unknown lab profile {self.profile!r} (choose: {', '.join(PROFILES)})")
        if not valid_hostname(self.hostname):
            raise UsageError(f"invalid lab hostname {self.hostname!r}")
        self.domains = tuple(d.lower().rstrip(".") for d in self.domains)
        for domain in self.domains:
            if not valid_hostname(domain):
                raise UsageError(f"invalid lab domain {domain!r}")
        if not self.domains:
            raise UsageError("the lab needs at least one local domain")
        if (self.cert is None) != (self.key is None):
            raise UsageError("--cert and --key go together")
        if self.max_connections_per_client < 0:
            raise UsageError("max connections per client must be 0 (unlimited) or more")
        for name in ("port", "submission_port", "smtps_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 65535:
                raise UsageError(f"{name.replace('_', ' ')} {value} is not a TCP port (0-65535)")
        if not 0 <= self.greet_pause <= MAX_GREET_PAUSE:
            raise UsageError(
                f"greet pause must be 0 to {MAX_GREET_PAUSE:g} seconds, got {self.greet_pause:g}"
            )
        if self.maildir is not None:
            self.maildir = Path(self.maildir)
        if self.profile == "open":
            # The open profile is the failing server: no limits at all.
            self.max_connections_per_client = 0
            self.rate_limit = None

    @property
    def hardened(self) -> bool:
        return self.profile == "hardened"


def valid_hostname(name: str) -> bool:
    """RFC 1035/5321 host name: dot-separated LDH labels, at most 255 octets, no trailing dot."""
    if not name or len(name) > 255:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def parse_user(text: str) -> tuple[str, str]:
    """`NAME:PASSWORD` (the password may itself contain colons)."""
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise UsageError(f"--user wants NAME:PASSWORD, got {text!r}")
    return name, password


def parse_rate(text: str) -> RateLimit | None:
    """`N/SECONDS` (e.g. `20/60`); `0` or `off` turns the limit off."""
    if text.strip().lower() in ("0", "off", "none"):
        return None
    count, sep, window = text.partition("/")
    try:
        limit = RateLimit(int(count), float(window))
    except ValueError:
        raise UsageError(f"--rate-limit wants N/SECONDS (e.g. 20/60), got {text!r}") from None
    if not sep or limit.count < 1 or limit.window <= 0:
        raise UsageError(f"--rate-limit wants N/SECONDS with N >= 1 and SECONDS > 0, got {text!r}")
    return limit
