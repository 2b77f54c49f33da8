"""The swaks options added after the first round, each checked by what it did on a real server: --local-port
(Postfix's log with smtpd_client_port_logging)."""

from __future__ import annotations

import socket

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe
from tests.servers._common import free_port

HELO = "client.example.org"


def _send(port, *options):
    return smtpprobe("send", "--server", f"127.0.0.1:{port}", "--from", "probe@example.org", "--helo", HELO,
                     "--timeout", "10", *options)


# -- --local-port -----------------------------------------------------------------------------------------------


def test_local_port_is_the_port_postfix_sees(postfix_factory):
    postfix = postfix_factory("strict", {"smtpd_client_port_logging": "yes"})
    port = free_port()
    for _ in range(2):  # the second run binds the port while the first's connection may sit in TIME_WAIT
        run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--local-port", str(port), "--drop-after", "mail")
        assert run.code == 0, run.out + run.err
        assert f"=== Connected to 127.0.0.1 from 127.0.0.1:{port}." in run.out
    postfix.settle(5)
    assert postfix.maillog().count(f"connect from localhost[127.0.0.1]:{port}\n") == 2


def test_local_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = smtpprobe("send", "--server", "127.0.0.1:1", "--to", "a@b.test", "--local-address", "127.0.0.1",
                        "--local-port", str(port))
    assert run.code == Exit.NETWORK
    assert run.err_lines == [f"*** cannot bind the source 127.0.0.1:{port}: Address already in use"]
