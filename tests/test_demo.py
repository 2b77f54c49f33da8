"""The README's first command: `smtpprobe demo` works with nothing set up."""

import re

from tests.cli import smtpprobe


def test_demo_delivers_refuses_a_relay_and_passes_the_catalogue():
    run = smtpprobe("demo", timeout=120)
    assert run.code == 0, run.out + run.err
    assert "<~  250 2.0.0 Ok: queued as" in run.out  # the message, inside TLS
    assert "<** 554 5.7.1 <victim@elsewhere.example>: Relay access denied" in run.out
    summary = re.search(r"(\d+) results: (\d+) pass, 0 info, 0 skip, 0 warn, 0 error, 0 fail", run.out)
    assert summary and summary[1] == summary[2] and int(summary[1]) >= 69  # the whole catalogue, all passing
    assert run.out.rstrip().splitlines()[-2].startswith("=== demo passed:")
    assert "Traceback" not in run.err
