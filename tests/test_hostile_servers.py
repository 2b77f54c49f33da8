"""Hostile servers must not hurt us: each run ends within its timeout (the endless ones as soon as the
bound is crossed) with one clear error line, a non-zero documented exit code and bounded memory."""

import socket

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe

TIMEOUT = 3  # --timeout given to the client, seconds

CASES = [
    # behaviour, extra options, exit code, words the error line must contain, max seconds
    ("never_greets", [], Exit.NETWORK, "no complete reply within 3s", TIMEOUT + 2),
    ("greets_one_byte_a_second", [], Exit.NETWORK, "no complete reply within 3s (received so far: '2", TIMEOUT + 2),
    ("endless_multiline", [], Exit.PROTOCOL, "multi-line reply longer than 200 lines", 2),
    ("endless_line", [], Exit.PROTOCOL, "reply line longer than 4096 bytes", 2),
    ("binary_garbage", [], Exit.PROTOCOL, "malformed reply", 2),
    ("closes_mid_reply", [], Exit.NETWORK, "server closed the connection in the middle of a reply: '220-hello", 2),
    ("disagreeing_codes", [], Exit.PROTOCOL, "lines of one reply disagree on the code (220 then 250)", 2),
    ("starttls_then_plaintext", ["--tls"], Exit.TLS, "TLS handshake failed", TIMEOUT + 2),
    ("starttls_response_injection", ["--tls"], Exit.TLS, "plaintext after its 220 to STARTTLS (response injection)", 2),
    ("never_offers_starttls", ["--tls"], Exit.TLS, "STARTTLS required (--tls) but the server does not advertise it", 2),
    ("resets_connection", [], Exit.NETWORK, "Connection reset by peer", 2),
    ("drops_during_tls_handshake", ["--tls-on-connect"], Exit.TLS, "TLS handshake failed", 2),
]


@pytest.mark.parametrize("behaviour, options, exit_code, message, max_seconds", CASES, ids=[c[0] for c in CASES])
def test_hostile_server_gives_one_clear_error(hostile_server, behaviour, options, exit_code, message, max_seconds):
    server = hostile_server(behaviour)
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", "postmaster@lab.test",
                    "--timeout", str(TIMEOUT), *options)
    assert run.code == exit_code, run.err
    errors = [line for line in run.err_lines if line.startswith("***")]
    assert len(errors) == 1, run.err
    assert message in errors[0]
    assert "Traceback" not in run.err + run.out
    assert run.seconds < max_seconds + 1.5  # interpreter start-up included
    assert 0 < run.peak_rss_mb < 100  # this run's own peak, whatever the server sent


def test_hostile_server_json_output_names_the_failure(hostile_server):
    import json

    server = hostile_server("endless_line")
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", "a@lab.test", "--json", "--timeout", "3")
    result = json.loads(run.out)
    assert run.code == Exit.PROTOCOL
    assert (result["ok"], result["failed_stage"], result["exit_code"]) == (False, "protocol", Exit.PROTOCOL)
    assert "longer than 4096 bytes" in result["error"]
    assert result["transcript"][-1]["kind"] == "error"


def test_greeting_timeout_is_separate_from_the_reply_timeout(hostile_server):
    server = hostile_server("never_greets")
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", "a@lab.test",
                    "--timeout", "30", "--greeting-timeout", "1")
    assert run.code == Exit.NETWORK
    assert run.err_lines == ["*** no complete reply within 1s"]
    assert run.seconds < 4


def test_connect_timeout_bounds_an_unanswered_connect():
    # A listener whose accept queue is full: Linux drops further SYNs, so the connect is never answered.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as full:
        port = full.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # fills the queue (never accepted)
            run = smtpprobe("send", "--server", f"127.0.0.1:{port}", "--to", "a@lab.test", "--timeout", "30",
                            "--connect-timeout", "1")
    assert run.code == Exit.NETWORK
    assert run.err_lines == [f"*** no TCP connection to 127.0.0.1:{port} within 1s"]
    assert run.seconds < 4
