"""burst says its finding in one sentence before the numbers, and an unresolvable name is one line (issue 15).
Against the lab's real limits: the per-client connection limit and the connection rate limit."""

from __future__ import annotations

import json

from smtpprobe.lab.config import RateLimit
from tests.cli import smtpprobe


def test_unresolvable_name_is_one_line_with_a_next_step():
    run = smtpprobe("burst", "--server", "no-such-host.invalid", "-n", "3")
    assert run.code == 3
    assert run.out == ""
    assert run.err_lines == [
        ("smtpprobe: cannot resolve no-such-host.invalid: Name or service not known; check the name (a typo?) "
        "or give an IP address")
    ]


def test_concurrency_limit_is_said_in_a_sentence_first(lab_factory):
    lab = lab_factory(max_connections_per_client=3)
    run = smtpprobe("burst", "--server", f"127.0.0.1:{lab.port}", "-n", "5", "--hold", "1")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert " ".join(lines[2:4]).startswith(
        "This server allows 3 concurrent connections from you; the 4th got: 421 4.7.0 mx.lab.test Error: "
        "too many connections from 127.0.0.1."
    )
    assert lines.index("  attempted                 5") > 2  # the sentence comes before the numbers
    report = json.loads(
        smtpprobe(
            "burst", "--server", f"127.0.0.1:{lab.port}", "-n", "5", "--hold", "1", "--format", "json"
        ).out
    )
    assert report["finding"].startswith("This server allows 3 concurrent connections from you; the 4th got")


def test_rate_limit_is_told_apart_from_a_concurrency_limit(lab_factory):
    lab = lab_factory(rate_limit=RateLimit(3, 60), max_connections_per_client=0)
    run = smtpprobe(
        "burst", "--server", f"127.0.0.1:{lab.port}", "-n", "5", "--rate", "20", "--format", "json"
    )
    report = json.loads(run.out)
    assert report["refused"] == 2 and report["first_refusal"]["index"] == 4, report
    assert report["finding"].startswith("This server refused your 4th connection after ")
    assert "a limit on the connection rate, not on concurrent connections" in report["finding"]


def test_no_limit_found_says_so_and_what_to_try(lab_factory):
    lab = lab_factory(max_connections_per_client=0)
    run = smtpprobe("burst", "--server", f"127.0.0.1:{lab.port}", "-n", "3", "--format", "json")
    finding = json.loads(run.out)["finding"]
    assert finding.startswith("All 3 connections were accepted, at most ")
    assert finding.endswith(
        "no limit up to there (--hold SECONDS keeps each open, to find a concurrency limit)."
    ) or ("open at once: no limit up to there." in finding)
