"""The open profile: the failing server a user compares against."""

from __future__ import annotations

import base64

import pytest

from smtpprobe.lab import LabServer
from tests.servers.lab import Dialog

pytestmark = pytest.mark.timeout(60)


def session(port: int) -> Dialog:
    dialog = Dialog("127.0.0.1", port)
    assert dialog.reply()[0] == 220
    return dialog


def test_no_helo_needed_and_relays_anything(lab_open: LabServer) -> None:
    with session(lab_open.port) as d:
        assert d.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
        for rcpt in (
            "<victim@example.net>",
            "<victim%example.net@lab.test>",
            "<@lab.test:victim@example.net>",
            '<"victim@example.net"@lab.test>',
            "<example.net!victim@lab.test>",
        ):
            assert d.cmd(f"RCPT TO:{rcpt}") == "250 2.1.5 Ok"
        assert d.cmd("DATA").startswith("354 ")
        d.send("Subject: open relay\r\n\r\nx\r\n.\r\n")
        assert d.line().startswith("250 2.0.0 Ok: queued as ")


@pytest.mark.parametrize("name", ["nodots", "bad_name!", "[127.0.0.1]", "[999.1.1.1]"])
def test_any_helo_accepted(lab_open: LabServer, name: str) -> None:
    with session(lab_open.port) as d:
        assert d.cmd(f"HELO {name}") == "250 mx.lab.test"


def test_auth_offered_and_accepted_without_tls(lab_open: LabServer) -> None:
    with session(lab_open.submission_port) as d:
        d.send("EHLO client.example.org\r\n")
        _, lines = d.reply()
        assert "AUTH PLAIN LOGIN" in lines and "STARTTLS" in lines
        auth = base64.b64encode(b"\0user\0password").decode()
        assert d.cmd("AUTH PLAIN " + auth) == "235 2.7.0 Authentication successful"
        assert d.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"  # no STARTTLS demanded


def test_no_connection_limit(lab_open: LabServer) -> None:
    sessions = [session(lab_open.port) for _ in range(15)]  # hardened refuses the 11th
    for s in sessions:
        s.close()


def test_open_profile_is_lenient_about_synchronization(lab_open: LabServer) -> None:
    """Everything the hardened profile refuses as protocol synchronization is answered here."""
    with Dialog("127.0.0.1", lab_open.port) as d:
        d.send("EHLO client.example.org\r\nNOOP\r\n")  # before the greeting, EHLO not last
        assert d.reply()[0] == 220
        assert d.reply()[0] == 250
        assert d.line() == "250 2.0.0 Ok"
        d.send("NOOP\nMAIL FROM:<a@example.org>\r\n")  # bare LF, NOOP not last
        assert [d.line() for _ in range(2)] == ["250 2.0.0 Ok", "250 2.1.0 Ok"]
