"""`smtpprobe burst` finds the exact connection limits of real servers, with their reply texts:
a real Postfix (anvil: smtpd_client_connection_count_limit / _rate_limit; 127.0.0.1 is outside
$mynetworks in the test bed, so the limits apply) and the lab (max_connections_per_client, rate_limit).

Bursts that look for a concurrency limit open connections at a steady --rate well below the server's
speed, so they reach the server in index order and the index of the first refusal is exact.
"""

from __future__ import annotations

import json

from smtpprobe.lab import RateLimit
from tests.cli import smtpprobe

POSTFIX_421 = "421 4.7.0 mx.lab.test Error: too many connections from 127.0.0.1"
LAB_421 = "421 4.7.0 mx.lab.test Error: too many connections from 127.0.0.1"


def burst(host: str, port: int, *args: str) -> dict:
    run = smtpprobe("burst", "--server", f"{host}:{port}", "--format", "json", *args)
    assert run.code == 0, run.err
    return json.loads(run.out)


def assert_limit(report: dict, limit: int, attempted: int, reply: str, held: bool) -> None:
    assert (report["attempted"], report["accepted"], report["refused"], report["errors"]) == (
        attempted, limit, attempted - limit, 0), report
    first = report["first_refusal"]
    assert first["index"] == limit + 1
    assert first["accepted_before"] == limit
    assert first["reply"] == reply
    if held:  # every accepted connection was still open: the limit is a concurrency limit
        assert first["open_connections"] == limit
    assert report["refusals"] == {reply: attempted - limit}


# -- Postfix ----------------------------------------------------------------------------------------------

def test_postfix_connection_count_limit(postfix_factory):
    pf = postfix_factory("default", {"smtpd_client_connection_count_limit": 4})
    report = burst(pf.host, pf.smtp_port, "-n", "10", "--rate", "40", "--hold", "1.5")
    assert_limit(report, 4, 10, POSTFIX_421, held=True)
    assert report["peak_open"] == 4


def test_postfix_count_limit_all_at_once(postfix_factory):
    pf = postfix_factory("default", {"smtpd_client_connection_count_limit": 3})
    report = burst(pf.host, pf.smtp_port, "-n", "12", "--hold", "1.5")
    # All started together, Postfix's smtpd processes may answer out of order: the count is exact.
    assert (report["accepted"], report["refused"], report["peak_open"]) == (3, 9, 3)
    assert report["refusals"] == {POSTFIX_421: 9}


def test_postfix_connection_rate_limit(postfix_factory):
    pf = postfix_factory("default", {"smtpd_client_connection_rate_limit": 5, "anvil_rate_time_unit": "60s"})
    # Whole sessions one after the other: never two open at once, so only the rate limit can refuse.
    report = burst(pf.host, pf.smtp_port, "-n", "9", "-c", "1", "--stage", "quit", "--to", pf.local_rcpt)
    assert_limit(report, 5, 9, POSTFIX_421, held=False)
    assert report["first_refusal"]["open_connections"] == 0
    assert report["completed"] == 5  # each accepted session got its 221


def test_postfix_starttls_to_rcpt_stage(postfix_factory):
    pf = postfix_factory("default")
    report = burst(pf.host, pf.smtp_port, "-n", "5", "--tls", "--stage", "rcpt", "--to", pf.local_rcpt)
    assert (report["accepted"], report["completed"], report["later_replies"]) == (5, 5, {}), report


def test_postfix_refusal_after_the_greeting_is_reported(postfix_factory):
    pf = postfix_factory("default")
    report = burst(pf.host, pf.smtp_port, "-n", "3", "--stage", "rcpt", "--to", "victim@example.net")
    assert report["accepted"] == 3 and report["completed"] == 0
    assert report["later_replies"] == {"rcpt: 454 4.7.1 <victim@example.net>: Relay access denied": 3}


# -- the lab ----------------------------------------------------------------------------------------------

def test_lab_connection_count_limit(lab_factory):
    lab = lab_factory(max_connections_per_client=4)
    report = burst(lab.host, lab.port, "-n", "9", "--rate", "40", "--hold", "1")
    assert_limit(report, 4, 9, LAB_421, held=True)


def test_lab_connection_rate_limit(lab_factory):
    lab = lab_factory(max_connections_per_client=0, rate_limit=RateLimit(count=6, window=60))
    report = burst(lab.host, lab.port, "-n", "10", "-c", "1", "--stage", "quit")
    assert_limit(report, 6, 10, LAB_421, held=False)


def test_lab_tls_modes(lab_factory):
    lab = lab_factory(max_connections_per_client=0)
    starttls = burst(lab.host, lab.port, "-n", "4", "--tls", "--stage", "ehlo", "--helo", "client.example.org")
    assert (starttls["accepted"], starttls["completed"], starttls["errors"]) == (4, 4, 0), starttls
    implicit = burst(lab.host, lab.smtps_port, "-n", "4", "--tls-on-connect")
    assert (implicit["accepted"], implicit["completed"], implicit["errors"]) == (4, 4, 0), implicit
    # Plain text to the implicit-TLS port: no greeting ever comes, so nothing answered (exit 3).
    plain = smtpprobe("burst", "--server", f"{lab.host}:{lab.smtps_port}", "-n", "2", "--timeout", "1")
    assert plain.code == 3
    assert plain.err_lines == [f"smtpprobe: {lab.host}:{lab.smtps_port} unreachable: greeting: no whole reply within 1s"]
