"""The hardened profile, spoken to over loopback with raw sockets and smtplib."""

from __future__ import annotations

import base64
import json
import smtplib
import socket
import ssl
import uuid

import pytest

from smtpprobe.lab import LabServer
from tests.cli import smtpprobe
from tests.servers.lab import Dialog

pytestmark = pytest.mark.timeout(60)
EHLO = "EHLO client.example.org"


def tls_context(lab: LabServer) -> ssl.SSLContext:
    """A verifying client context that trusts the lab's self-signed certificate."""
    return ssl.create_default_context(cafile=str(lab.cert_path))


def mx(lab: LabServer) -> Dialog:
    dialog = Dialog("127.0.0.1", lab.port)
    code, lines = dialog.reply()
    assert (code, lines[0]) == (220, "mx.lab.test ESMTP smtpprobe-lab")
    return dialog


def test_sequence_errors(lab_hardened: LabServer) -> None:
    with mx(lab_hardened) as d:
        assert d.cmd("MAIL FROM:<a@example.org>") == "503 5.5.1 Error: send HELO/EHLO first"
        assert d.cmd(EHLO).startswith("250 mx.lab.test")
        assert d.cmd("RCPT TO:<postmaster@lab.test>") == "503 5.5.1 Error: need MAIL command"
        assert d.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
        assert d.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
        assert d.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
        assert d.cmd("FOOBAR") == "500 5.5.2 Error: command not recognized"
        assert d.cmd("QUIT") == "221 2.0.0 Bye"


def test_ehlo_advertises_starttls_not_auth_on_mx(lab_hardened: LabServer) -> None:
    with mx(lab_hardened) as d:
        d.send(EHLO + "\r\n")
        code, lines = d.reply()
        assert code == 250 and lines[0] == "mx.lab.test"
        assert "STARTTLS" in lines and "ENHANCEDSTATUSCODES" in lines
        assert not any(line.startswith("AUTH") for line in lines)
        assert d.cmd("AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=") == "503 5.5.1 Error: authentication not enabled"


@pytest.mark.parametrize("verb", ["HELO", "EHLO"])
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", None),  # blank: aiosmtpd/Postfix text, verb-specific
        ("nodots", "504 5.5.2 <nodots>: Helo command rejected: need fully-qualified hostname"),
        ("bad_name!", "501 5.5.2 <bad_name!>: Helo command rejected: Invalid name"),
        ("[127.0.0.1]", "554 5.7.1 <[127.0.0.1]>: Helo command rejected: IP-literal HELO not accepted here"),
    ],
)
def test_helo_rejected_at_helo_time(
    lab_hardened: LabServer, verb: str, name: str, expected: str | None
) -> None:
    with mx(lab_hardened) as d:
        reply = d.cmd(f"{verb} {name}".rstrip())
        assert reply == (expected or f"501 Syntax: {verb} hostname")
        # The refused name does not count as a greeting: the transaction cannot start.
        assert d.cmd("MAIL FROM:<a@example.org>") == "503 5.5.1 Error: send HELO/EHLO first"


def test_refused_helo_forgets_an_earlier_good_one(lab_hardened: LabServer) -> None:
    with mx(lab_hardened) as d:
        assert d.cmd("HELO client.example.org") == "250 mx.lab.test"
        assert d.cmd("HELO nodots").startswith("504 ")
        assert d.cmd("MAIL FROM:<a@example.org>") == "503 5.5.1 Error: send HELO/EHLO first"


@pytest.mark.parametrize(
    ("rcpt", "quoted"),
    [
        ("<victim@example.net>", "victim@example.net"),
        ("<victim%example.net@lab.test>", "victim%example.net@lab.test"),
        ("<@lab.test:victim@example.net>", "victim@example.net"),
        ('<"victim@example.net"@lab.test>', '"victim@example.net"@lab.test'),
        ("<example.net!victim@lab.test>", "example.net!victim@lab.test"),
        ("<example.net!victim>", "example.net!victim"),
    ],
)
@pytest.mark.parametrize("sender", ["<>", "<a@example.org>", "<someone@lab.test>"])
def test_relay_denied(lab_hardened: LabServer, rcpt: str, quoted: str, sender: str) -> None:
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        assert d.cmd(f"MAIL FROM:{sender}") == "250 2.1.0 Ok"
        assert d.cmd(f"RCPT TO:{rcpt}") == f"554 5.7.1 <{quoted}>: Relay access denied"
        # Nothing was accepted, so there is nothing to send.
        assert d.cmd("DATA") == "503 5.5.1 Error: need RCPT command"


def test_local_delivery_null_sender_and_postmaster(lab_hardened: LabServer) -> None:
    marker = uuid.uuid4().hex
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        assert d.cmd("MAIL FROM:<>") == "250 2.1.0 Ok"
        assert d.cmd("RCPT TO:<postmaster@lab.test>") == "250 2.1.5 Ok"
        assert d.cmd("RCPT TO:<Anyone.At.All@LAB.TEST>") == "250 2.1.5 Ok"
        assert d.cmd("RCPT TO:<Postmaster>") == "250 2.1.5 Ok"
        assert d.cmd("DATA").startswith("354 ")
        d.send(f"Subject: {marker}\r\n\r\n..dot-stuffed\r\n.\r\n")
        reply = d.line()
        assert reply.startswith("250 2.0.0 Ok: queued as ")
    queue_id = reply.rsplit(" ", 1)[1]
    [message] = [m for m in lab_hardened.messages if m.queue_id == queue_id]
    assert message.mail_from == "<>"
    assert message.rcpt_tos == ("postmaster@lab.test", "Anyone.At.All@LAB.TEST", "Postmaster")
    assert message.data == f"Subject: {marker}\r\n\r\n.dot-stuffed\r\n".encode()
    assert message.listener == "mx" and not message.tls and message.authenticated_as is None
    assert message.helo == "client.example.org"


def test_smuggling_bare_lf_end_of_data_is_not_an_end(lab_hardened: LabServer) -> None:
    """SMTP smuggling (CVE-2023-51764 family): only CRLF.CRLF ends DATA, so one message, one 250."""
    marker = uuid.uuid4().hex
    smuggled = (
        "MAIL FROM:<admin@example.org>\r\nRCPT TO:<smuggled@lab.test>\r\nDATA\r\n"
        f"Subject: smuggled {marker}\r\n\r\nhi\r\n.\r\n"
    )
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        d.cmd("MAIL FROM:<a@example.org>")
        d.cmd("RCPT TO:<user@lab.test>")
        assert d.cmd("DATA").startswith("354 ")
        # The smuggled transaction's own CRLF.CRLF is the only real end of data.
        d.send(f"Subject: outer {marker}\r\n\r\nbody\n.\n{smuggled}")
        assert d.line().startswith("250 2.0.0 Ok: queued as ")
        assert d.cmd("NOOP") == "250 2.0.0 Ok"  # no stray replies to "smuggled" commands queued up
    received = [m for m in lab_hardened.messages if marker.encode() in m.data]
    assert len(received) == 1 and received[0].rcpt_tos == ("user@lab.test",)
    assert b"MAIL FROM:<admin@example.org>" in received[0].data  # the smuggled part is just content


def test_starttls_on_mx_then_no_starttls_in_ehlo(lab_hardened: LabServer) -> None:
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        assert d.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        d.starttls(tls_context(lab_hardened))  # verifies the certificate against mx.lab.test
        assert d.sock.version() in ("TLSv1.2", "TLSv1.3")
        d.send(EHLO + "\r\n")
        code, lines = d.reply()
        assert code == 250 and "STARTTLS" not in lines  # RFC 3207 §4.2
        assert d.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
        assert d.cmd("RCPT TO:<victim@example.net>") == "554 5.7.1 <victim@example.net>: Relay access denied"


def test_certificate_names(lab_hardened: LabServer) -> None:
    """Verifies for the lab hostname and for localhost/127.0.0.1; not for another name."""
    context = tls_context(lab_hardened)
    for name in ("mx.lab.test", "localhost", "127.0.0.1"):
        with smtplib.SMTP_SSL(
            name if name != "mx.lab.test" else "127.0.0.1",
            lab_hardened.smtps_port,
            context=context,
            timeout=10,
        ) as s:
            if name == "mx.lab.test":
                assert s.sock.getpeercert()["subject"] == (
                    (("commonName", "mx.lab.test"),),
                    (("organizationName", "smtpprobe lab"),),
                )
            assert s.noop()[0] == 250
    with (
        socket.create_connection(("127.0.0.1", lab_hardened.smtps_port), timeout=10) as sock,
        pytest.raises(ssl.SSLCertVerificationError, match="mismatch"),
    ):
        context.wrap_socket(sock, server_hostname="other.example")


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_submission_requires_starttls_before_mail_and_auth(lab_hardened: LabServer) -> None:
    with Dialog("127.0.0.1", lab_hardened.submission_port) as d:
        assert d.reply()[0] == 220
        d.send(EHLO + "\r\n")
        _, lines = d.reply()
        assert "STARTTLS" in lines and not any(line.startswith("AUTH") for line in lines)
        must = "530 5.7.0 Must issue a STARTTLS command first"
        assert d.cmd("MAIL FROM:<a@example.org>") == must
        assert d.cmd("AUTH PLAIN " + plain("user", "password")) == must
        assert d.cmd("AUTH LOGIN") == must


def test_submission_auth_over_tls(lab_hardened: LabServer) -> None:
    with Dialog("127.0.0.1", lab_hardened.submission_port) as d:
        d.reply()
        d.cmd(EHLO)
        assert d.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        d.starttls(tls_context(lab_hardened))
        d.send(EHLO + "\r\n")
        _, lines = d.reply()
        assert "AUTH PLAIN LOGIN" in lines and "STARTTLS" not in lines
        assert d.cmd("MAIL FROM:<a@example.org>") == "530 5.7.0 Authentication required"
        bad = "535 5.7.8 Authentication credentials invalid"
        assert d.cmd("AUTH PLAIN " + plain("user", "wrong")) == bad
        assert d.cmd("AUTH PLAIN " + plain("nobody", "password")) == bad
        # AUTH LOGIN, step by step, with a wrong password
        assert d.cmd("AUTH LOGIN").startswith("334 ")
        assert d.cmd(base64.b64encode(b"user").decode()).startswith("334 ")
        assert d.cmd(base64.b64encode(b"nope").decode()) == bad
        assert d.cmd("AUTH PLAIN " + plain("user", "password")) == "235 2.7.0 Authentication successful"
        assert d.cmd("MAIL FROM:<user@lab.test>") == "250 2.1.0 Ok"
        assert d.cmd("RCPT TO:<victim@example.net>") == "250 2.1.5 Ok"  # authenticated: may relay


def test_smtps_implicit_tls_login_and_relay(lab_hardened: LabServer) -> None:
    marker = uuid.uuid4().hex
    with smtplib.SMTP_SSL(
        "127.0.0.1", lab_hardened.smtps_port, context=tls_context(lab_hardened), timeout=10
    ) as s:
        code, text = s.ehlo("client.example.org")
        assert code == 250 and b"AUTH PLAIN LOGIN" in text and b"STARTTLS" not in text
        assert s.docmd("MAIL FROM:<user@lab.test>") == (530, b"5.7.0 Authentication required")
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            s.login("user", "not-the-password")
        assert failed.value.smtp_code == 535
        s.login("user", "password")  # smtplib picks PLAIN or LOGIN itself
        refused = s.sendmail("user@lab.test", ["victim@example.net"], f"Subject: {marker}\r\n\r\nx\r\n")
        assert refused == {}
    [message] = [m for m in lab_hardened.messages if marker.encode() in m.data]
    assert (message.listener, message.tls, message.authenticated_as) == ("smtps", True, "user")


def test_smtps_plaintext_client_gets_no_greeting(lab_hardened: LabServer) -> None:
    with Dialog("127.0.0.1", lab_hardened.smtps_port, timeout=1.5) as d:
        d.send("EHLO client.example.org\r\n")
        with pytest.raises((TimeoutError, ConnectionError, OSError)):
            d.reply()


def test_starttls_command_injection_is_discarded(lab_hardened: LabServer) -> None:
    """CVE-2011-0411 family: plaintext pipelined after STARTTLS must not be answered inside TLS."""
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        d.send("STARTTLS\r\nEHLO injected.example.org\r\n")  # one segment
        assert d.line() == "220 2.0.0 Ready to start TLS"
        d.starttls(tls_context(lab_hardened))
        assert d.unsolicited(1.0) is None  # the injected EHLO got no reply inside TLS
        assert d.cmd("NOOP") == "250 2.0.0 Ok"


def test_second_starttls_refused(lab_hardened: LabServer) -> None:
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        assert d.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        d.starttls(tls_context(lab_hardened))
        assert d.cmd("STARTTLS") == "554 5.5.1 Error: TLS already active"
    context = tls_context(lab_hardened)
    with Dialog("127.0.0.1", lab_hardened.smtps_port, tls_context=context) as d:
        d.reply()
        assert d.cmd("STARTTLS") == "554 5.5.1 Error: TLS already active"


def test_recipient_limit_is_452_after_1000(lab_hardened: LabServer) -> None:
    """RFC 5321 §4.5.3.1.8/§4.5.3.1.10: at least 100 must be taken; an implementation limit is a 452."""
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        d.cmd("MAIL FROM:<a@example.org>")
        d.send("".join(f"RCPT TO:<r{n}@lab.test>\r\n" for n in range(1001)))  # pipelined
        replies = [d.line() for _ in range(1001)]
        assert set(replies[:1000]) == {"250 2.1.5 Ok"}
        assert replies[1000] == "452 4.5.3 Error: too many recipients"
        assert d.cmd("RSET") == "250 2.0.0 Ok"


# -- protocol synchronization: what Postfix refuses with smtpd_forbid_unauth_pipelining = yes and
#    smtpd_forbid_bare_newline = reject (texts and hang-ups as Postfix 3.7.11 gives them) -------------

SYNC = "554 5.5.0 Error: SMTP protocol synchronization"
BARE_LF = "550 5.5.2 mx.lab.test Error: bare <LF> received"


def test_early_talker_gets_554_instead_of_the_greeting(lab_factory) -> None:
    # A greet pause makes "before the greeting" certain; the default lab (no pause) catches what has
    # arrived when it greets, a race a single early command may win (see the next test).
    lab = lab_factory(greet_pause=0.3)
    with Dialog("127.0.0.1", lab.port) as d:
        d.send(EHLO + "\r\n")
        assert d.line() == SYNC
        assert d.unsolicited(5.0) == b""  # a clean close: the unread EHLO was dropped, no reset
    with mx(lab) as d:  # a client that waits is greeted after the pause and served as usual
        assert d.cmd(EHLO).startswith("250 mx.lab.test")


def test_early_talker_with_two_commands_is_refused_without_a_pause(lab_hardened: LabServer) -> None:
    """The probe's pair: caught at the greeting, or, if the greeting won the race, as EHLO-not-last."""
    with Dialog("127.0.0.1", lab_hardened.port) as d:
        d.send(EHLO + "\r\nNOOP\r\n")
        first = d.line()
        if first.startswith("220 "):
            first = d.line()
        assert first == SYNC
        assert d.closed_by_peer()


@pytest.mark.parametrize("first", ["NOOP", EHLO, "HELO client.example.org", "VRFY postmaster", "EXPN staff"])
def test_must_be_last_command_with_input_behind_it_is_refused(lab_hardened: LabServer, first: str) -> None:
    """RFC 2920 §3.1: EHLO, HELO, DATA, VRFY, EXPN, TURN and NOOP only last in a group."""
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        d.send(f"{first}\r\nMAIL FROM:<a@example.org>\r\n")
        assert d.line() == SYNC
        assert d.closed_by_peer()


def test_data_with_the_message_in_the_same_write_is_refused(lab_hardened: LabServer) -> None:
    marker = uuid.uuid4().hex
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        d.send(
            f"MAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@lab.test>\r\nDATA\r\nSubject: {marker}\r\n\r\nx\r\n.\r\n"
        )
        assert [d.line() for _ in range(3)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", SYNC]
        assert d.closed_by_peer()
    assert not [m for m in lab_hardened.messages if marker.encode() in m.data]


@pytest.mark.parametrize(
    "greet", [None, "HELO client.example.org", "EHLO nodots"], ids=["none", "helo", "bad-ehlo"]
)
def test_pipelining_without_an_accepted_ehlo_is_refused(lab_hardened: LabServer, greet: str | None) -> None:
    """PIPELINING was never offered to this client, so it may not pipeline at all."""
    with mx(lab_hardened) as d:
        if greet:
            d.cmd(greet)
        d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@lab.test>\r\n")
        assert d.line() == SYNC
        assert d.closed_by_peer()


@pytest.mark.parametrize("raw", ["NOOP\n", "NOOP\nNOOP\r\n", "FOOBAR\n", "\n", "MAIL FROM:<a@example.org>\n"])
def test_bare_lf_command_line_is_refused(lab_hardened: LabServer, raw: str) -> None:
    """RFC 5321 §2.3.8: only CRLF ends a line. The command is not run."""
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        d.send(raw)
        assert d.line() == BARE_LF
        assert d.closed_by_peer()


def test_pipelining_rfc_2920_allows_is_answered_in_order(lab_hardened: LabServer) -> None:
    """After an EHLO that offered PIPELINING: RSET, MAIL, RCPTs and DATA last in one write; then the
    message and QUIT in one write (QUIT with input behind it is answered 221, as Postfix does)."""
    marker = uuid.uuid4().hex
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        d.send(
            "RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@lab.test>\r\n"
            "RCPT TO:<victim@example.net>\r\nDATA\r\n"
        )
        assert [d.line() for _ in range(5)] == [
            "250 2.0.0 Ok",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "554 5.7.1 <victim@example.net>: Relay access denied",
            "354 End data with <CR><LF>.<CR><LF>",
        ]
        d.send(f"Subject: {marker}\r\n\r\nx\r\n.\r\nQUIT\r\nNOOP\r\n")
        assert d.line().startswith("250 2.0.0 Ok: queued as ")
        assert d.line() == "221 2.0.0 Bye"
        assert d.closed_by_peer()
    [message] = [m for m in lab_hardened.messages if marker.encode() in m.data]
    assert message.rcpt_tos == ("postmaster@lab.test",)


def test_pipelining_inside_tls_needs_the_new_ehlo(lab_hardened: LabServer) -> None:
    """STARTTLS forgets the EHLO (RFC 3207 §4.2), and with it the PIPELINING offer."""
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        assert d.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        d.starttls(tls_context(lab_hardened))
        d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@lab.test>\r\n")
        assert d.line() == SYNC
    with mx(lab_hardened) as d:
        d.cmd(EHLO)
        d.cmd("STARTTLS")
        d.starttls(tls_context(lab_hardened))
        d.cmd(EHLO)
        d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@lab.test>\r\n")
        assert [d.line() for _ in range(2)] == ["250 2.1.0 Ok", "250 2.1.5 Ok"]


def test_run_attack_probes_pass_on_a_hardened_lab_and_not_on_the_open_one(lab_factory, lab_open) -> None:
    """`smtpprobe run --only attack --policy hardened`, as a user runs it. A private lab: the burst
    probe uses up the per-client connection limit for a few seconds."""

    def run(lab: LabServer, only: str) -> tuple[int, dict[tuple[str, str], str]]:
        ports = f"mx={lab.port}", f"submission={lab.submission_port}", f"smtps={lab.smtps_port}"
        done = smtpprobe(
            "run", "--server", "127.0.0.1", *(f"--port={p}" for p in ports), "--local-rcpt", "postmaster@lab.test",
            "--helo", "client.example.org", "--only", only, "--policy", "hardened", "--format", "json",
        )  # fmt: skip
        results = json.loads(done.out)["results"]
        return done.code, {(r["id"], r["role"]): r["verdict"] for r in results}

    code, verdicts = run(lab_factory(), "attack")
    assert {key: v for key, v in verdicts.items() if v != "pass"} == {}
    assert code == 0 and len(verdicts) == 53  # 39 + the 14 smuggling sequences sent split (issue 11)
    code, verdicts = run(lab_open, "early-talker,pipelining-abuse,bare-lf-command")
    assert code == 1
    assert verdicts == {
        ("early-talker", "mx"): "fail",
        ("pipelining-abuse/noop-not-last", "mx"): "fail",
        ("pipelining-abuse/ehlo-not-last", "mx"): "fail",
        ("pipelining-abuse/without-ehlo", "mx"): "fail",
        ("bare-lf-command", "mx"): "warn",  # lenient line parsing: a warn whatever the policy
    }
