"""The swaks options added after the first round, each checked by what it did on a real server: --drop-after-send
(Postfix's log and mailbox), --prdr (Exim with prdr_enable and a per-recipient data ACL; Postfix, which does
not offer it), --cc/--bcc (Postfix's mailboxes and relay catch-all), --local-port (Postfix's log with
smtpd_client_port_logging)."""

from __future__ import annotations

import json
import re
import socket

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe
from tests.servers._common import free_port

HELO = "client.example.org"


def _send(port, *options):
    return smtpprobe("send", "--server", f"127.0.0.1:{port}", "--from", "probe@example.org", "--helo", HELO,
                     "--timeout", "10", *options)


def _subjects(messages: list[bytes]) -> list[str]:
    return [m.split(b"\nSubject: ", 1)[1].split(b"\n", 1)[0].decode() for m in messages if b"\nSubject: " in m]


# -- --drop-after-send --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage, verb, postfix_saw", [
    ("ehlo", "EHLO", "lost connection after EHLO"),
    ("tls", "STARTTLS", "lost connection after STARTTLS"),
    ("mail", "MAIL", "lost connection after MAIL"),
    ("rcpt", "RCPT", "lost connection after RCPT"),
    ("data", "DATA", "lost connection after DATA (0 bytes)"),
])
def test_drop_after_send_before_the_message_delivers_nothing(postfix_strict, stage, verb, postfix_saw):
    """The command reached Postfix (its log names it as the last one), its reply was never read, and no
    message came of it."""
    subject = f"Subject: das-{stage}"
    lost = re.compile(rf"{re.escape(postfix_saw)} from localhost\[127\.0\.0\.1\]")
    before = len(lost.findall(postfix_strict.maillog()))
    run = _send(postfix_strict.smtp_port, "--to", postfix_strict.local_rcpt, "--tls-optional", "--header",
                subject, "--drop-after-send", stage, "--json")
    assert run.code == 0, run.out + run.err
    result = json.loads(run.out)
    texts = [(e["kind"], e["text"]) for e in result["transcript"]]
    assert texts[-1] == ("info", f"hung up after sending {verb} without reading its reply")
    assert texts[-2][0] == "sent" and texts[-2][1].startswith(verb)  # nothing received after it
    assert not any(text.startswith("QUIT") for _, text in texts)
    postfix_strict.settle(5)
    assert len(lost.findall(postfix_strict.maillog())) == before + 1
    assert subject.split(": ")[1] not in _subjects(postfix_strict.delivered())


def test_drop_after_send_dot_the_message_is_delivered_though_we_never_read_the_250(postfix_factory):
    """Postfix queues a message when the end of data arrives, before it answers: hanging up right after the
    dot still delivers it, and the client cannot know (the duplicate-message window of RFC 1047)."""
    postfix = postfix_factory("strict")
    run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--header", "Subject: das-dot",
                "--drop-after-send", "dot")
    assert run.code == 0, run.out + run.err
    assert run.out.rstrip().endswith(" -> .\n=== hung up after sending the end of data (.) without reading its reply")
    assert "<-  250 2.0.0 Ok: queued" not in run.out
    assert _subjects(postfix.delivered()) == ["das-dot"]
    assert re.search(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 commands=4",
                     postfix.maillog())


def test_drop_after_send_dot_with_bdat_hangs_up_after_the_last_chunk(postfix_factory):
    postfix = postfix_factory("strict")
    run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--header", "Subject: das-bdat", "--chunking",
                "--drop-after-send", "dot")
    assert run.code == 0, run.out + run.err
    assert re.search(r"=== hung up after sending BDAT \d+ LAST without reading its reply$", run.out.rstrip())
    assert _subjects(postfix.delivered()) == ["das-bdat"]


@pytest.mark.parametrize("options, message", [
    (["--drop-after-send", "connect"], "'connect' is not one of 'ehlo', 'tls'"),
    (["--drop-after-send", "rcpt", "--quit-after", "mail"], "exclude each other"),
    (["--drop-after-send", "rcpt", "--drop-after", "mail"], "exclude each other"),
])
def test_drop_after_send_takes_only_stages_that_send_a_command(options, message):
    run = smtpprobe("send", "--server", "127.0.0.1:1", "--to", "a@b.test", *options)
    assert run.code == Exit.USAGE
    assert message in run.err
    assert run.out == ""


# -- --prdr -----------------------------------------------------------------------------------------------------


def test_prdr_one_recipient_refused_at_data_time_gets_nothing(exim_factory):
    """Exim with prdr_enable refuses user@ this content in its per-recipient data ACL: a 353, one reply per
    recipient, the final reply; the message lands in postmaster's maildir only."""
    exim = exim_factory("prdr")
    run = _send(exim.port, "--to", exim.local_rcpt, "--to", exim.local_user, "--prdr",
                "--header", "Subject: prdr refuse-user", "--json")
    assert run.code == 0, run.out + run.err
    result = json.loads(run.out)
    texts = [e["text"] for e in result["transcript"]]
    mail = next(t for t in texts if t.startswith("MAIL FROM"))
    assert mail.split()[-1] == "PRDR"
    after_dot = texts[texts.index(".") + 1:]
    assert after_dot[:3] == [
        "353 PRDR content analysis beginning",
        f"250 PRDR R=<{exim.local_rcpt}> acceptance",
        "550 user does not take this content",
    ]
    assert re.fullmatch(r"250 id=\S+ message accepted for some recipients", after_dot[3])
    assert after_dot[4:6] == [
        f"PRDR reply for {exim.local_rcpt}: 250 PRDR R=<{exim.local_rcpt}> acceptance",
        f"PRDR reply for {exim.local_user}: 550 user does not take this content",
    ]
    assert result["accepted_recipients"] == [exim.local_rcpt, exim.local_user]
    assert result["delivered_recipients"] == [exim.local_rcpt]
    assert [(r["recipient"], r["code"]) for r in result["recipient_replies"]] == [
        (exim.local_rcpt, 250), (exim.local_user, 550)]
    assert _subjects(exim.delivered(exim.local_rcpt)) == ["prdr refuse-user"]
    assert _subjects(exim.delivered(exim.local_user)) == []
    assert f"PRDR {exim.local_user} user does not take this content" in exim.log()


def test_prdr_refused_for_every_recipient_is_the_data_exit_code(exim_factory):
    exim = exim_factory("prdr")
    run = _send(exim.port, "--to", exim.local_user, "--to", exim.local_user, "--prdr",
                "--header", "Subject: prdr refuse-user twice")
    assert run.code == Exit.DATA, run.out + run.err
    assert run.out.count("<** 550 user does not take this content") == 2
    assert re.fullmatch(r"\*\*\* message refused after end of data: 550 id=\S+ message rejected for all recipients",
                        run.err.strip())
    assert exim.delivered() == []


def test_prdr_single_recipient_gets_one_reply_without_353(exim_factory):
    """The draft lets a server answer every recipient at once; Exim does so for one recipient (and then runs
    no per-recipient ACL at all, so even user@ gets this message)."""
    exim = exim_factory("prdr")
    run = _send(exim.port, "--to", exim.local_user, "--prdr", "--header", "Subject: prdr refuse-user alone")
    assert run.code == 0, run.out + run.err
    assert "<-  353" not in run.out
    assert "=== PRDR: no 353, so this one reply is every recipient's" in run.out
    assert _subjects(exim.delivered(exim.local_user)) == ["prdr refuse-user alone"]


def test_prdr_not_offered_is_a_note_and_an_ordinary_transaction(postfix_factory):
    postfix = postfix_factory("strict")
    run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--prdr", "--header", "Subject: no-prdr", "--json")
    assert run.code == 0, run.out + run.err
    result = json.loads(run.out)
    texts = [e["text"] for e in result["transcript"]]
    assert ("the server does not offer PRDR (draft-hall-prdr-00 §4.1): not asked for, one reply for the whole "
            "message") in texts
    assert "PRDR" not in next(t for t in texts if t.startswith("MAIL FROM"))
    assert result["delivered_recipients"] is None and result["recipient_replies"] is None
    assert _subjects(postfix.delivered()) == ["no-prdr"]


def test_prdr_with_lmtp_is_refused_before_connecting():
    run = smtpprobe("send", "--server", "127.0.0.1:1", "--to", "a@b.test", "--lmtp", "--prdr")
    assert run.code == Exit.USAGE
    assert run.err_lines == ["smtpprobe: --prdr is for SMTP: LMTP already replies once per recipient after the message"]


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
