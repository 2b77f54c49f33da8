"""The embedded target server (`smtpprobe lab`): a hardened MX, or an open one, on loopback.

    from smtpprobe.lab import LabServer, LabConfig
    with LabServer(LabConfig(port=0, submission_port=0, smtps_port=0)) as lab:
        ...  # talk to 127.0.0.1:lab.port; lab.messages holds what was received

Importing this package is cheap: asyncio, aiosmtpd and cryptography load only when the server
module is first used, and the latter two only when a lab starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smtpprobe.lab.config import LabConfig, RateLimit, parse_rate, parse_user
from smtpprobe.lab.store import ReceivedMessage

if TYPE_CHECKING:
    from smtpprobe.lab.server import LabServer, LabStartError, Listening

__all__ = [
    "LabConfig",
    "LabServer",
    "LabStartError",
    "Listening",
    "RateLimit",
    "ReceivedMessage",
    "parse_rate",
    "parse_user",
]

_FROM_SERVER = ("LabServer", "LabStartError", "Listening")


def __getattr__(name: str) -> Any:
    if name in _FROM_SERVER:
        from smtpprobe.lab import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
