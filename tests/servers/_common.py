"""Helpers shared by the server fixtures."""

from __future__ import annotations

import os
import socket

UNDER_CI = os.environ.get("CI") == "true"


def unavailable(reason: str) -> None:
    """A real server the test needs is missing: a skip on a developer's machine, a failure under CI."""
    import pytest  # imported here so benchmarks can use free_port() and the instance managers without pytest

    if UNDER_CI:
        pytest.fail(f"real server unavailable under CI: {reason}")
    pytest.skip(reason)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago. Other agents and tests run servers on this machine at the same
    time, so never hard-code a port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
