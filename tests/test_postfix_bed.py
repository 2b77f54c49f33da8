"""The Postfix test bed behaves as conformance.md §4.6 describes (Postfix 3.7, loopback only).

Uses only the standard library (smtplib, ssl, raw sockets): the project's own client is tested against
this bed elsewhere, so the bed must be proven independently of it.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
import uuid
from pathlib import Path

import pytest

from tests.servers.postfix import PostfixInstance

TIMEOUT = 10


def smtp(inst: PostfixInstance, port: int | None = None) -> smtplib.SMTP:
    return smtplib.SMTP(inst.host, port or inst.smtp_port, timeout=TIMEOUT)


def tls_context(inst: PostfixInstance) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(inst.cert_path))
    return ctx  # verifies the chain and the name mx.lab.test


def reply(code_text: tuple[int, bytes]) -> str:
    code, text = code_text
    return f"{code} {text.decode()}"


class RawSMTP:
    """Line-level client for what smtplib will not send (MAIL before HELO, bare HELO, ...)."""

    def __init__(self, host: str, port: int, sock: socket.socket | None = None):
        self.sock = sock or socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.buf = b""

    def read_reply(self) -> str:
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError(f"closed; got {lines!r} {self.buf!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def cmd(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.read_reply()

    def close(self) -> None:
        self.sock.close()


# --- strict instance (§4.6) ----------------------------------------------------------------------


def test_strict_greeting_and_ehlo(postfix_strict):
    raw = RawSMTP(postfix_strict.host, postfix_strict.smtp_port)
    try:
        assert raw.read_reply() == "220 mx.lab.test ESMTP Postfix (Debian/GNU)"
        ehlo = raw.cmd("EHLO client.example.org")
        assert ehlo.startswith("250-mx.lab.test")
        assert "250-STARTTLS" in ehlo
        assert "AUTH" not in ehlo
    finally:
        raw.close()


def test_strict_mail_before_helo(postfix_strict):
    raw = RawSMTP(postfix_strict.host, postfix_strict.smtp_port)
    try:
        raw.read_reply()
        assert raw.cmd("MAIL FROM:<a@example.org>") == "503 5.5.1 Error: send HELO/EHLO first"
        raw.cmd("EHLO client.example.org")
        assert raw.cmd("RCPT TO:<postmaster@lab.test>") == "503 5.5.1 Error: need MAIL command"
        assert raw.cmd("HELO") == "501 Syntax: HELO hostname"
    finally:
        raw.close()


@pytest.mark.parametrize(
    "rcpt, shown",
    [
        ("victim@example.net", "victim@example.net"),
        ("victim%example.net@lab.test", "victim%example.net@lab.test"),
        ("example.net!victim", "example.net!victim"),
    ],
)
def test_strict_relay_denied(postfix_strict, rcpt, shown):
    with smtp(postfix_strict) as s:
        s.ehlo("client.example.org")
        assert s.mail("a@example.org")[0] == 250
        assert reply(s.rcpt(rcpt)) == f"554 5.7.1 <{shown}>: Relay access denied"


def test_strict_relay_denied_source_route(postfix_strict):
    # raw: smtplib's address quoting (email.utils.parseaddr) mangles source routes
    raw = RawSMTP(postfix_strict.host, postfix_strict.smtp_port)
    try:
        raw.read_reply()
        raw.cmd("EHLO client.example.org")
        assert raw.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
        assert raw.cmd("RCPT TO:<@lab.test:victim@example.net>") == (
            "554 5.7.1 <victim@example.net>: Relay access denied"
        )
    finally:
        raw.close()


def test_strict_ip_literal_helo_rejected_at_rcpt(postfix_strict):
    raw = RawSMTP(postfix_strict.host, postfix_strict.smtp_port)
    try:
        raw.read_reply()
        assert raw.cmd("HELO [192.0.2.1]") == "250 mx.lab.test"  # smtpd_delay_reject=yes
        assert raw.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
        assert raw.cmd("RCPT TO:<postmaster@lab.test>") == (
            "554 5.7.1 <[192.0.2.1]>: Helo command rejected: IP-literal HELO not accepted here"
        )
    finally:
        raw.close()


def test_strict_non_fqdn_helo_rejected_at_rcpt(postfix_strict):
    with smtp(postfix_strict) as s:
        assert s.helo("nodots")[0] == 250
        s.mail("a@example.org")
        assert reply(s.rcpt("postmaster@lab.test")) == (
            "504 5.5.2 <nodots>: Helo command rejected: need fully-qualified hostname"
        )


def test_strict_vrfy_and_unknown_user(postfix_strict):
    with smtp(postfix_strict) as s:
        s.ehlo("client.example.org")
        assert reply(s.verify("postmaster")) == "252 2.0.0 postmaster"
        s.mail("a@example.org")
        assert reply(s.rcpt("nobody@lab.test")) == (
            "550 5.1.1 <nobody@lab.test>: Recipient address rejected: User unknown in local recipient table"
        )
        assert reply(s.rcpt("user@lab.test")) == "250 2.1.5 Ok"


def test_strict_starttls_on_mx_port(postfix_strict):
    with smtp(postfix_strict) as s:
        s.ehlo("client.example.org")
        assert s.has_extn("starttls")
        assert reply(s.starttls(context=tls_context(postfix_strict))) == "220 2.0.0 Ready to start TLS"
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        s.ehlo("client.example.org")
        assert not s.has_extn("starttls")


def test_submission_requires_starttls(postfix_strict):
    with smtp(postfix_strict, postfix_strict.submission_port) as s:
        s.ehlo("client.example.org")
        assert s.has_extn("starttls")
        assert reply(s.mail("a@example.org")) == "530 5.7.0 Must issue a STARTTLS command first"
        s.starttls(context=tls_context(postfix_strict))
        s.ehlo("client.example.org")
        assert not s.has_extn("starttls")
        assert reply(s.mail("a@example.org")) == "250 2.1.0 Ok"


def test_implicit_tls_port_greets_after_handshake(postfix_strict):
    ctx = tls_context(postfix_strict)
    tcp = socket.create_connection((postfix_strict.host, postfix_strict.smtps_port), timeout=TIMEOUT)
    with ctx.wrap_socket(tcp, server_hostname=postfix_strict.myhostname) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        raw = RawSMTP("", 0, sock=tls)
        assert raw.read_reply() == "220 mx.lab.test ESMTP Postfix (Debian/GNU)"
        assert raw.cmd("EHLO client.example.org").startswith("250-mx.lab.test")
        assert raw.cmd("QUIT").startswith("221")


def test_implicit_tls_port_silent_to_plaintext(postfix_strict):
    with socket.create_connection((postfix_strict.host, postfix_strict.smtps_port), timeout=TIMEOUT) as tcp:
        tcp.settimeout(1.5)
        tcp.sendall(b"EHLO client.example.org\r\n")
        try:
            data = tcp.recv(4096)
        except TimeoutError:
            data = b""
        except ConnectionResetError:  # Postfix resets after the failed TLS handshake
            data = b""
        assert not data.startswith(b"2")  # no SMTP reply in clear (silence, or a TLS alert/close)


def test_strict_local_delivery_readable(postfix_strict):
    marker = uuid.uuid4().hex
    before = len(postfix_strict.delivered("postmaster@lab.test"))
    with smtp(postfix_strict) as s:
        s.ehlo("client.example.org")
        msg = f"From: a@example.org\r\nTo: postmaster@lab.test\r\nSubject: {marker}\r\n\r\nbody {marker}\r\n"
        s.sendmail("a@example.org", [postfix_strict.local_rcpt], msg)
    msgs = postfix_strict.delivered("postmaster@lab.test")
    assert len(msgs) == before + 1
    assert f"Subject: {marker}".encode() in msgs[-1]
    assert f"body {marker}".encode() in msgs[-1]
    assert b"Delivered-To: postmaster@lab.test" in msgs[-1]


# --- open instance ------------------------------------------------------------------------------


def test_open_mail_without_helo_and_relay(postfix_open):
    raw = RawSMTP(postfix_open.host, postfix_open.smtp_port)
    try:
        raw.read_reply()
        assert raw.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
        assert raw.cmd("RCPT TO:<victim@example.net>") == "250 2.1.5 Ok"
        assert raw.cmd("RCPT TO:<@open.lab.test:victim2@example.net>") == "250 2.1.5 Ok"
        raw.cmd("QUIT")
    finally:
        raw.close()


def test_open_relayed_mail_is_caught_locally(postfix_open):
    marker = uuid.uuid4().hex
    with smtp(postfix_open) as s:
        s.sendmail("a@example.org", ["victim@example.net"], f"Subject: {marker}\r\n\r\nx\r\n")
    relayed = postfix_open.relayed()
    assert any(marker.encode() in m for m in relayed)
    assert postfix_open.deferred_count() == 0  # nothing tried to leave the host


# --- factory: profiles, overrides, several instances --------------------------------------------


def test_default_profile_defers_relay(postfix_factory):
    inst = postfix_factory()
    with smtp(inst) as s:
        assert reply(s.mail("a@example.org")) == "250 2.1.0 Ok"  # HELO not required
        assert reply(s.rcpt("victim@example.net")) == "454 4.7.1 <victim@example.net>: Relay access denied"


def test_two_instances_side_by_side(postfix_factory):
    a = postfix_factory("strict")
    b = postfix_factory("open", {"myhostname": "mx2.lab.test"})
    assert len(set(a.ports.values()) | set(b.ports.values())) == 6
    assert a.config_dir != b.config_dir
    for inst, name in ((a, "mx.lab.test"), (b, "mx2.lab.test")):
        with smtp(inst) as s:
            assert s.ehlo("client.example.org")[1].split(b"\n")[0] == name.encode()
    a_pids = a.our_pids()
    assert a_pids and not set(a_pids) & set(b.our_pids())
    a.stop()
    assert a.our_pids() == []
    assert not a.workdir.exists()
    for pid in a_pids:  # gone (a zombie's entry may linger until init reaps it)
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or " Z " in stat.read_text()
    with pytest.raises(OSError):
        socket.create_connection((a.host, a.smtp_port), timeout=2).close()
    with smtp(b) as s:  # b unaffected
        assert s.noop()[0] == 250


def test_override_connection_count_limit(postfix_factory):
    inst = postfix_factory("strict", {"smtpd_client_connection_count_limit": 2})
    assert inst.postconf("-h", "smtpd_client_connection_count_limit").strip() == "2"
    held = [RawSMTP(inst.host, inst.smtp_port) for _ in range(2)]
    try:
        for r in held:
            assert r.read_reply().startswith("220 ")
        third = RawSMTP(inst.host, inst.smtp_port)
        try:
            assert third.read_reply() == "421 4.7.0 mx.lab.test Error: too many connections from 127.0.0.1"
        finally:
            third.close()
    finally:
        for r in held:
            r.close()


def test_startup_is_fast_and_logged(postfix_factory):
    t0 = time.monotonic()
    inst = postfix_factory("strict")
    assert time.monotonic() - t0 < 10
    assert "daemon started -- version 3." in inst.maillog()
    assert inst.postconf("-h", "mynetworks").strip() == "127.0.0.2/32"


def test_instance_of_killed_test_process_is_reaped(postfix_factory):
    import signal
    import subprocess
    import sys

    from tests.servers._postfix_bed import PostfixInstance as Inst
    from tests.servers._postfix_bed import reap_stale

    postfix_factory()  # skips/fails like the other tests when Postfix is unavailable
    code = (
        "import sys, time; from tests.servers._postfix_bed import start_postfix; "
        "i = start_postfix('open'); print(i.workdir, flush=True); time.sleep(60)"
    )
    repo = Path(__file__).resolve().parent.parent
    child = subprocess.Popen([sys.executable, "-c", code], cwd=repo, stdout=subprocess.PIPE, text=True)
    try:
        workdir = Path(child.stdout.readline().strip())
    finally:
        child.send_signal(signal.SIGKILL)  # no teardown, no atexit
        child.wait(timeout=10)
        child.stdout.close()
    orphan = Inst(workdir=workdir, profile="?", main_cf={})
    assert orphan.our_pids(), "the killed process's Postfix should still be running"
    assert workdir in reap_stale()
    assert orphan.our_pids() == []
    assert not workdir.exists()


def test_override_connection_rate_limit_counts_only_test_connections(postfix_factory):
    # readiness probes come from 127.0.0.2, so 127.0.0.1 gets exactly the configured budget
    inst = postfix_factory("strict", {"smtpd_client_connection_rate_limit": 5})
    greetings = []
    for _ in range(6):
        r = RawSMTP(inst.host, inst.smtp_port)
        try:
            greetings.append(r.read_reply())
        finally:
            r.close()
    assert greetings[:5] == ["220 mx.lab.test ESMTP Postfix (Debian/GNU)"] * 5
    assert greetings[5] == "421 4.7.0 mx.lab.test Error: too many connections from 127.0.0.1"


def test_override_forbid_bare_newline_reject(postfix_factory):
    inst = postfix_factory("strict", {"smtpd_forbid_bare_newline": "reject"})
    raw = RawSMTP(inst.host, inst.smtp_port)
    try:
        raw.read_reply()
        raw.cmd("EHLO client.example.org")
        raw.sock.sendall(b"NOOP\n")
        assert raw.read_reply() == "550 5.5.2 mx.lab.test Error: bare <LF> received"
    finally:
        raw.close()


def test_reconfigure_running_instance(postfix_factory):
    inst = postfix_factory()
    with smtp(inst) as s:
        assert reply(s.mail("a@example.org")) == "250 2.1.0 Ok"
    inst.reconfigure(smtpd_helo_required=True)
    with smtp(inst) as s:  # new connections get the new setting
        assert reply(s.mail("a@example.org")) == "503 5.5.1 Error: send HELO/EHLO first"
