"""The multi-MTA test bed is what it claims to be, proven with the standard library only (smtplib, raw
sockets) and each server's own storage: mail really lands, permissive configurations really relay,
hardened ones really refuse, the gates really gate, and chasquid / OpenSMTPD really take a smuggled
message when its bytes come in a later write. These facts are the ground truth of test_compatibility.py.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid

import pytest

from tests.servers._mta_truth import Closed, Raw
from tests.servers.mtabed import BED_NAMES

PERMISSIVE = ["postfix-permissive", "exim-permissive", "opensmtpd-permissive", "haraka-permissive",
              "smtp-server-permissive"]  # fmt: skip
NOT_RELAYING = ["postfix-hardened", "exim-hardened", "opensmtpd-hardened", "chasquid-hardened",
                "chasquid-as-shipped", "haraka-hardened", "smtp-server-hardened", "smtp-server-auth-first"]  # fmt: skip


def _ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed bed certificates
    return ctx


def _message(subject: str) -> bytes:
    return f"From: <probe@client.example.org>\r\nSubject: {subject}\r\n\r\nbed test\r\n".encode()


def _send(inst, rcpt: str, subject: str, *, auth: bool = False) -> None:
    with smtplib.SMTP(inst.host, inst.port, timeout=10) as s:
        s.ehlo("client.example.org")
        if s.has_extn("starttls"):
            s.starttls(context=_ctx())
            s.ehlo("client.example.org")
        if auth:
            s.login(inst.auth_user, inst.auth_password)
        s.sendmail("probe@client.example.org", [rcpt], _message(subject))


def _with_subject(msgs: list[bytes], subject: str) -> list[bytes]:
    return [m for m in msgs if f"Subject: {subject}".encode() in m.replace(b"\r\n", b"\n").split(b"\n\n")[0]]


@pytest.mark.parametrize("name", sorted(set(BED_NAMES) - {"smtp-server-auth-first"}))
def test_local_mail_lands_in_the_mailbox(mtabed, name):
    inst = mtabed.get(name)
    subject = f"bed-local-{uuid.uuid4().hex[:10]}"
    _send(inst, inst.local_user, subject)
    assert len(_with_subject(inst.delivered(inst.local_user), subject)) == 1, inst.log()[-2000:]
    assert _with_subject(inst.relayed(), subject) == []


def test_auth_first_server_takes_mail_only_after_auth(mtabed):
    inst = mtabed.get("smtp-server-auth-first")
    with smtplib.SMTP(inst.host, inst.port, timeout=10) as s:
        s.ehlo("client.example.org")
        code, text = s.mail("probe@client.example.org")
        assert (code, text) == (530, b"Error: authentication Required")
    subject = f"bed-auth-{uuid.uuid4().hex[:10]}"
    _send(inst, inst.local_user, subject, auth=True)
    assert len(_with_subject(inst.delivered(inst.local_user), subject)) == 1


@pytest.mark.parametrize("name", PERMISSIVE)
def test_permissive_configurations_really_relay(mtabed, name):
    inst = mtabed.get(name)
    subject = f"bed-relay-{uuid.uuid4().hex[:10]}"
    _send(inst, "relaytest@example.net", subject)
    assert len(_with_subject(inst.relayed(), subject)) == 1, inst.log()[-2000:]


@pytest.mark.parametrize("name", NOT_RELAYING)
def test_hardened_configurations_refuse_relay(mtabed, name):
    inst = mtabed.get(name)
    before = len(inst.relayed())
    with smtplib.SMTP(inst.host, inst.port, timeout=10) as s:
        s.ehlo("client.example.org")
        if s.has_extn("starttls"):
            s.starttls(context=_ctx())
            s.ehlo("client.example.org")
        code, _ = s.mail("probe@client.example.org")
        if code == 250:
            code, text = s.rcpt("relaytest@example.net")
            assert code >= 500, text
        else:
            assert code == 530  # smtp-server auth-first: nothing without AUTH
    assert len(inst.relayed()) == before


def test_starttls_gate_refuses_mail_in_plaintext_and_relays_inside_tls(mtabed):
    inst = mtabed.get("postfix-starttls-gate")
    with smtplib.SMTP(inst.host, inst.port, timeout=10) as s:
        s.ehlo("client.example.org")
        code, text = s.mail("probe@client.example.org")
        assert code == 530 and b"STARTTLS" in text
    subject = f"bed-gate-{uuid.uuid4().hex[:10]}"
    _send(inst, "relaytest@example.net", subject)  # _send does STARTTLS
    assert len(_with_subject(inst.relayed(), subject)) == 1


def test_auth_first_server_relays_once_authenticated(mtabed):
    inst = mtabed.get("smtp-server-auth-first")
    subject = f"bed-authrelay-{uuid.uuid4().hex[:10]}"
    _send(inst, "relaytest@example.net", subject, auth=True)
    assert len(_with_subject(inst.relayed(), subject)) == 1


@pytest.mark.parametrize("name", ["exim-hardened", "haraka-hardened", "opensmtpd-hardened"])
def test_hardened_configurations_require_helo(mtabed, name):
    inst = mtabed.get(name)
    raw = Raw(inst.host, inst.port)
    try:
        assert raw.reply().startswith("220")
        assert raw.cmd("MAIL FROM:<probe@client.example.org>").startswith("503")
    finally:
        raw.close()


def _smuggle(inst, eod: bytes, split: bool) -> tuple[str, list[str]]:
    """A message to postmaster whose body ends with `eod`, then a second transaction to user@lab.test.
    split: the bytes after `eod` are written only once the server answered the first message (the
    sentinel that it ended the data at `eod`), one command at a time where PIPELINING is not offered."""
    subject = f"bed-smuggled-{uuid.uuid4().hex[:10]}"
    second_msg = f"Subject: {subject}\r\n\r\nsmuggled\r\n.\r\n".encode()
    second = b"MAIL FROM:<probe@client.example.org>\r\nRCPT TO:<user@lab.test>\r\nDATA\r\n" + second_msg
    raw = Raw(inst.host, inst.port)
    replies: list[str] = []
    try:
        raw.reply()
        ehlo = raw.cmd("EHLO client.example.org")
        assert raw.cmd("MAIL FROM:<probe@client.example.org>").startswith("250")
        assert raw.cmd("RCPT TO:<postmaster@lab.test>").startswith("250")
        assert raw.cmd("DATA").startswith("354")
        first = b"Subject: carrier\r\n\r\nfirst" + eod
        if split:
            raw.send(first)
            replies.append(raw.reply())  # bounded (8 s): a server that ended the data answers at once
            if "PIPELINING" in ehlo:
                raw.send(second)
            else:
                replies += [raw.cmd(c) for c in ("MAIL FROM:<probe@client.example.org>",
                                                 "RCPT TO:<user@lab.test>", "DATA")]  # fmt: skip
                raw.send(second_msg)
        else:
            raw.send(first + second)
        raw.send(b"QUIT\r\n")
        while True:
            replies.append(raw.reply())
    except (Closed, OSError) as e:  # the session ends with the server closing
        replies.append(f"({type(e).__name__})")
    finally:
        raw.close()
    return subject, replies


@pytest.mark.parametrize("name", ["chasquid-hardened", "opensmtpd-hardened"])
@pytest.mark.parametrize("eod", [b"\n.\n", b"\n.\r\n", b"\r\n.\n"], ids=["lf-lf", "lf-crlf", "crlf-lf"])
def test_smuggled_message_lands_when_sent_in_a_later_write(mtabed, name, eod):
    """chasquid 1.11 (CVE-2023-52354) and OpenSMTPD 6.8.0p2 end the data at a bare-LF dot line: the
    commands after it, arriving in a later write, deliver a second message nobody sent in that name."""
    inst = mtabed.get(name)
    subject, replies = _smuggle(inst, eod, split=True)
    assert replies[0].startswith("250"), replies  # the first message ended at the fake end-of-data
    assert len(_with_subject(inst.delivered("user@lab.test"), subject)) == 1, replies


@pytest.mark.parametrize("name", ["chasquid-hardened", "opensmtpd-hardened"])
def test_smuggled_bytes_in_the_same_write_are_not_delivered(mtabed, name):
    """The same bytes in one write: chasquid swallows them, OpenSMTPD refuses the pipelined group. This is
    why probes that send end-of-data and the smuggled commands together miss both vulnerabilities."""
    inst = mtabed.get(name)
    subject, replies = _smuggle(inst, b"\n.\n", split=False)
    assert _with_subject(inst.delivered("user@lab.test"), subject) == [], replies


@pytest.mark.parametrize("name", ["exim-hardened", "haraka-hardened", "postfix-hardened"])
def test_patched_servers_do_not_take_the_smuggled_message(mtabed, name):
    inst = mtabed.get(name)
    subject, replies = _smuggle_any_split(inst, b"\n.\n")
    assert _with_subject(inst.delivered("user@lab.test"), subject) == [], replies


def _smuggle_any_split(inst, eod: bytes) -> tuple[str, list[str]]:
    """Split write without requiring that the server ended the data at `eod` (patched servers do not)."""
    subject = f"bed-smuggled-{uuid.uuid4().hex[:10]}"
    raw = Raw(inst.host, inst.port)
    replies: list[str] = []
    try:
        raw.reply()
        raw.cmd("EHLO client.example.org")
        raw.cmd("MAIL FROM:<probe@client.example.org>")
        raw.cmd("RCPT TO:<postmaster@lab.test>")
        raw.cmd("DATA")
        raw.send(b"Subject: carrier\r\n\r\nfirst" + eod)
        try:
            replies.append(raw.reply(0.5))
        except TimeoutError:
            replies.append("(still in DATA)")
        raw.send(
            b"MAIL FROM:<probe@client.example.org>\r\nRCPT TO:<user@lab.test>\r\nDATA\r\n"
            + f"Subject: {subject}\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n".encode()
        )
        while True:
            replies.append(raw.reply())
    except (Closed, OSError) as e:  # the session ends with the server closing
        replies.append(f"({type(e).__name__})")
    finally:
        raw.close()
    return subject, replies
