"""The swaks options added after the first round, each checked by what it did on a real server: --cc/--bcc (Postfix's
mailboxes and relay catch-all), --local-port (Postfix's log with smtpd_client_port_logging)."""

from __future__ import annotations

import re
import socket

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe
from tests.servers._common import free_port

HELO = "client.example.org"


def _send(port, *options):
    return smtpprobe("send", "--server", f"127.0.0.1:{port}", "--from", "probe@example.org", "--helo", HELO,
                     "--timeout", "10", *options)


# -- --cc, --bcc ------------------------------------------------------------------------------------------------


def test_cc_is_a_header_and_a_recipient_bcc_only_a_recipient(postfix_open):
    """Postfix "open" relays the foreign Bcc recipient to its catch-all: each of the three got the message, the
    Cc header names user@, and no copy says who else was Bcc'd."""
    hidden = "hidden-cc-test@example.net"
    run = _send(postfix_open.smtp_port, "--to", postfix_open.local_rcpt, "--cc", postfix_open.local_user,
                "--bcc", hidden, "--header", "Subject: cc-bcc")
    assert run.code == 0, run.out + run.err
    assert re.findall(r" -> RCPT TO:<([^>]*)>", run.out) == [postfix_open.local_rcpt, postfix_open.local_user, hidden]
    copies = [m for m in postfix_open.delivered(postfix_open.local_rcpt) if b"Subject: cc-bcc" in m]
    copies += [m for m in postfix_open.delivered(postfix_open.local_user) if b"Subject: cc-bcc" in m]
    copies += [m for m in postfix_open.relayed() if b"Subject: cc-bcc" in m]
    assert len(copies) == 3
    for copy in copies:
        headers = copy.split(b"\n\n", 1)[0].decode()
        assert f"\nTo: {postfix_open.local_rcpt}\n" in headers
        assert f"\nCc: {postfix_open.local_user}\n" in headers
        assert not re.search(r"(?im)^bcc:", headers)
    for copy in copies[:2]:  # the visible recipients' copies do not name the hidden one anywhere
        assert hidden.encode() not in copy


def test_cc_and_bcc_addresses_are_checked_under_their_own_option():
    for option in ("--cc", "--bcc"):
        run = smtpprobe("send", "--server", "127.0.0.1:1", "--to", "a@b.test", option, "x@b.test> NOTIFY=NEVER")
        assert run.code == Exit.USAGE
        assert run.err.startswith(f"smtpprobe: {option} 'x@b.test> NOTIFY=NEVER': '<' or '>' would end")
        bare = smtpprobe("send", "--server", "127.0.0.1:1", "--to", "a@b.test", option, "nodomain")
        assert bare.err.startswith(f"smtpprobe: {option} 'nodomain' is not an address (no @)")


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
