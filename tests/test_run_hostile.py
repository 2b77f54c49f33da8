"""`smtpprobe run` against misbehaving servers (tests/servers/hostile.py): every result is an error that
says what happened, the run ends within its timeouts with exit 3, and nothing crashes."""

from __future__ import annotations

import json

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe

CASES = [
    # behaviour, words in the error, max seconds
    ("never_greets", "no reply within 2s", 5),
    ("endless_line", "reply line longer than 4096 bytes", 4),
    ("endless_multiline", "multi-line reply longer than 200 lines", 4),
    ("binary_garbage", "malformed reply", 4),
    ("closes_mid_reply", "server closed the connection in the middle of a reply", 4),
    ("resets_connection", "Connection reset by peer", 4),
]


@pytest.mark.parametrize("behaviour, words, max_seconds", CASES, ids=[c[0] for c in CASES])
def test_hostile_server_gives_errors_not_crashes(hostile_server, behaviour, words, max_seconds):
    server = hostile_server(behaviour)
    run = smtpprobe(
        "run",
        "--server",
        f"127.0.0.1:{server.port}",
        "--only",
        "unknown-command,missing-helo",
        "--timeout",
        "2",
        "--format",
        "json",
    )
    assert run.code == Exit.NETWORK, run.out + run.err
    assert run.seconds < max_seconds + 1.5
    assert "Traceback" not in run.err
    doc = json.loads(run.out)
    assert [r["verdict"] for r in doc["results"]] == ["error", "error"]
    for result in doc["results"]:
        assert result["summary"].startswith("could not test: ")
        assert words in result["summary"], result["summary"]
