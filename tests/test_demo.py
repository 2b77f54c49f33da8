"""The README's first command: `smtpprobe demo` works with nothing set up."""

from tests.cli import smtpprobe


def test_demo_delivers_refuses_a_relay_and_passes_the_catalogue():
    run = smtpprobe("demo", timeout=120)
    assert run.code == 0, run.out + run.err
    assert "<~  250 2.0.0 Ok: queued as" in run.out  # the message, inside TLS
    assert "<** 554 5.7.1 <victim@elsewhere.example>: Relay access denied" in run.out
    assert "69 results: 69 pass, 0 skip, 0 warn, 0 error, 0 fail" in run.out
    assert run.out.rstrip().splitlines()[-2].startswith("=== demo passed:")
    assert "Traceback" not in run.err
