"""The lab's pure parts, no sockets: HELO/recipient policy, limits, reply texts, config parsing."""

from __future__ import annotations

import pytest

from smtpprobe.errors import UsageError
from smtpprobe.lab import LabConfig, RateLimit, parse_rate, parse_user
from smtpprobe.lab.limits import ConnectionLimiter
from smtpprobe.lab.policy import helo_reply, recipient_reply
from smtpprobe.lab.replies import rewrite
from smtpprobe.lab.sync import SYNC_ERROR, discard_pending, socket_pending, verdict

DOMAINS = ("lab.test",)


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        ("client.example.org", None),
        ("a-b.example", None),
        ("nodots", "504 5.5.2 <nodots>: Helo command rejected: need fully-qualified hostname"),
        ("bad_name!", "501 5.5.2 <bad_name!>: Helo command rejected: Invalid name"),
        ("under_score.example", "501 5.5.2 <under_score.example>: Helo command rejected: Invalid name"),
        ("foo.", "501 5.5.2 <foo.>: Helo command rejected: Invalid name"),
        ("-lead.example", "501 5.5.2 <-lead.example>: Helo command rejected: Invalid name"),
        ("192.0.2.1", "501 5.5.2 <192.0.2.1>: Helo command rejected: Invalid name"),
        ("[127.0.0.1]", "554 5.7.1 <[127.0.0.1]>: Helo command rejected: IP-literal HELO not accepted here"),
        (
            "[IPv6:2001:db8::1]",
            "554 5.7.1 <[IPv6:2001:db8::1]>: Helo command rejected: IP-literal HELO not accepted here",
        ),
        ("[999.1.1.1]", "501 5.5.2 <[999.1.1.1]>: Helo command rejected: invalid ip address"),
        ("[IPv6:nope]", "501 5.5.2 <[IPv6:nope]>: Helo command rejected: invalid ip address"),
    ],
)
def test_helo_policy(name: str, reply: str | None) -> None:
    assert helo_reply(name) == reply


@pytest.mark.parametrize(
    ("address", "reply"),
    [
        ("anyone@lab.test", None),
        ("Someone@LAB.TEST", None),
        ("postmaster@lab.test", None),
        ("Postmaster", None),
        ("victim@example.net", "554 5.7.1 <victim@example.net>: Relay access denied"),
        ("victim%example.net@lab.test", "554 5.7.1 <victim%example.net@lab.test>: Relay access denied"),
        ('"victim@example.net"@lab.test', '554 5.7.1 <"victim@example.net"@lab.test>: Relay access denied'),
        ("example.net!victim@lab.test", "554 5.7.1 <example.net!victim@lab.test>: Relay access denied"),
        ("example.net!victim", "554 5.7.1 <example.net!victim>: Relay access denied"),
        ("victim@lab.test.example.net", "554 5.7.1 <victim@lab.test.example.net>: Relay access denied"),
        ("justuser", "504 5.5.2 <justuser>: Recipient address rejected: need fully-qualified address"),
    ],
)
def test_recipient_policy_unauthenticated(address: str, reply: str | None) -> None:
    assert recipient_reply(address, DOMAINS, may_relay=False) == reply


def test_recipient_policy_authenticated_may_relay() -> None:
    assert recipient_reply("victim@example.net", DOMAINS, may_relay=True) is None


def test_concurrency_limit_counts_and_releases() -> None:
    limiter = ConnectionLimiter(max_concurrent=2)
    assert limiter.admit("192.0.2.1") and limiter.admit("192.0.2.1")
    assert not limiter.admit("192.0.2.1")
    assert limiter.admit("192.0.2.2")  # per client
    limiter.release("192.0.2.1")
    assert limiter.admit("192.0.2.1")
    assert limiter.active("192.0.2.1") == 2


def test_rate_limit_window_slides() -> None:
    now = [0.0]
    limiter = ConnectionLimiter(rate=RateLimit(3, 10.0), clock=lambda: now[0])
    for _ in range(3):
        assert limiter.admit("c")
        limiter.release("c")
    assert not limiter.admit("c")  # 4th within 10 s
    now[0] = 9.9
    assert not limiter.admit("c")  # refused attempts count too
    now[0] = 30.0
    assert limiter.admit("c")


@pytest.mark.parametrize(
    ("aiosmtpd", "lab"),
    [
        ("503 Error: need MAIL command", "503 5.5.1 Error: need MAIL command"),
        ("530 Must issue a STARTTLS command first", "530 5.7.0 Must issue a STARTTLS command first"),
        ('500 Error: command "FOO" not recognized', "500 5.5.2 Error: command not recognized"),
        ("501 Syntax: HELO hostname", "501 Syntax: HELO hostname"),
        ("501 Syntax: RSET", "501 5.5.4 Syntax: RSET"),
        ("553 5.1.3 Error: malformed address", "553 5.1.3 Error: malformed address"),
        ("250-mx.lab.test", "250-mx.lab.test"),
        ("250 mx.lab.test", "250 mx.lab.test"),
        ("250 OK", "250 2.0.0 Ok"),
        ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
    ],
)
def test_reply_rewrite(aiosmtpd: str, lab: str) -> None:
    assert rewrite(aiosmtpd) == lab


def test_parse_user_and_rate() -> None:
    assert parse_user("alice:s3:cret") == ("alice", "s3:cret")
    assert parse_rate("20/60") == RateLimit(20, 60.0)
    assert parse_rate("off") is None
    for bad in ("20", "x/60", "0/60", "5/0"):
        with pytest.raises(UsageError):
            parse_rate(bad)
    with pytest.raises(UsageError):
        parse_user("alice")


def test_config_validation() -> None:
    assert LabConfig(domains=("Lab.Test.", "other.test")).domains == ("lab.test", "other.test")
    with pytest.raises(UsageError):
        LabConfig(profile="lenient")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        LabConfig(hostname="bad host")
    with pytest.raises(UsageError):
        LabConfig(cert=__file__)  # type: ignore[arg-type]
    open_config = LabConfig(profile="open", max_connections_per_client=3, rate_limit=RateLimit(1, 1))
    assert open_config.max_connections_per_client == 0 and open_config.rate_limit is None


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, smtpprobe.lab; print(any(m in sys.modules for m in ('aiosmtpd', 'cryptography', 'asyncio')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("line", "pending", "pipelining", "reply"),
    [
        (b"NOOP\r\n", False, True, None),
        (b"NOOP\r\n", True, True, SYNC_ERROR),
        (b"ehlo client.example.org\r\n", True, True, SYNC_ERROR),  # verbs are case-insensitive
        (b"DATA\r\n", True, True, SYNC_ERROR),
        (b"MAIL FROM:<a@example.org>\r\n", True, True, None),  # RFC 2920 allows it once offered
        (b"RSET\r\n", True, True, None),
        (b"QUIT\r\n", True, True, None),  # answered 221 and the session ends anyway, as in Postfix
        (b"MAIL FROM:<a@example.org>\r\n", True, False, SYNC_ERROR),  # PIPELINING never offered
        (b"MAIL FROM:<a@example.org>\r\n", False, False, None),
        (b"NOOP\n", False, True, "550 5.5.2 mx.lab.test Error: bare <LF> received"),
        (b"NOOP\n", True, False, "550 5.5.2 mx.lab.test Error: bare <LF> received"),  # judged first
        (b"\xff\xfe\r\n", True, True, None),  # not a verb at all: aiosmtpd answers 500
    ],
)
def test_synchronization_verdict(line: bytes, pending: bool, pipelining: bool, reply: str | None) -> None:
    assert verdict(line, pending=pending, pipelining=pipelining, hostname="mx.lab.test") == reply


def test_socket_pending_counts_unread_bytes() -> None:
    import socket

    left, right = socket.socketpair()
    with left, right:
        assert socket_pending(right.fileno()) == 0
        left.sendall(b"EHLO x\r\nNOOP\r\n")
        assert socket_pending(right.fileno()) == 14
        right.recv(8)
        assert socket_pending(right.fileno()) == 6
        left.sendall(b"x" * 50_000)
        discard_pending(right.fileno())
        assert socket_pending(right.fileno()) == 0
        right.setblocking(True)
        left.sendall(b"QUIT\r\n")
        assert right.recv(16) == b"QUIT\r\n"  # the socket itself is still open and working
    assert socket_pending(right.fileno()) == 0  # closed: -1, nothing to ask


def test_greet_pause_is_bounded() -> None:
    assert LabConfig(greet_pause=0.3).greet_pause == 0.3
    for bad in (-1.0, 11.0):
        with pytest.raises(UsageError, match="greet pause"):
            LabConfig(greet_pause=bad)
