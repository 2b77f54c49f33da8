"""Per-client connection limits: 421 past the concurrency limit and past the rate limit."""

from __future__ import annotations

import smtplib
import time

import pytest

from smtpprobe.lab import RateLimit
from tests.servers.lab import Dialog

pytestmark = pytest.mark.timeout(60)
TOO_MANY = "421 4.7.0 mx.lab.test Error: too many connections from 127.0.0.1"


def greeted(port: int) -> Dialog:
    dialog = Dialog("127.0.0.1", port)
    assert dialog.reply()[0] == 220
    return dialog


def test_concurrency_limit_421_then_close(lab_factory) -> None:
    lab = lab_factory(max_connections_per_client=2)
    first, second = greeted(lab.port), greeted(lab.submission_port)  # counted across listeners
    try:
        with Dialog("127.0.0.1", lab.port) as third:
            assert third.line() == TOO_MANY
            assert third.closed_by_peer()
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", lab.port, timeout=10)
        assert refused.value.smtp_code == 421
        # A slot frees up once a session ends.
        assert first.cmd("QUIT") == "221 2.0.0 Bye"
        first.close()
        deadline = time.monotonic() + 5
        while True:
            with Dialog("127.0.0.1", lab.port) as again:
                code, _ = again.reply()
            if code == 220 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert code == 220
    finally:
        first.close()
        second.close()


def test_default_limit_is_ten(lab_factory) -> None:
    lab = lab_factory()
    sessions = [greeted(lab.port) for _ in range(10)]
    try:
        with Dialog("127.0.0.1", lab.port) as eleventh:
            assert eleventh.line() == TOO_MANY
    finally:
        for session in sessions:
            session.close()


def test_rate_limit(lab_factory) -> None:
    lab = lab_factory(rate_limit=RateLimit(3, 60.0), max_connections_per_client=0)
    for _ in range(3):
        with greeted(lab.port) as d:
            assert d.cmd("QUIT") == "221 2.0.0 Bye"
    with Dialog("127.0.0.1", lab.port) as fourth:
        assert fourth.line() == TOO_MANY
        assert fourth.closed_by_peer()


def test_rate_limit_off_by_default(lab_factory) -> None:
    lab = lab_factory()
    for _ in range(25):
        with greeted(lab.port) as d:
            assert d.cmd("QUIT") == "221 2.0.0 Bye"
