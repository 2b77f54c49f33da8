"""The Python API: start/stop, ports, errors, --maildir, own certificate, IPv6."""

from __future__ import annotations

import shutil
import smtplib
import socket
import ssl

import pytest

from smtpprobe.exitcodes import Exit
from smtpprobe.lab import LabConfig, LabServer, LabStartError
from tests.servers.lab import Dialog, free_config

pytestmark = pytest.mark.timeout(60)


def test_attributes_after_start(lab_hardened: LabServer) -> None:
    ports = {lab_hardened.port, lab_hardened.submission_port, lab_hardened.smtps_port}
    assert len(ports) == 3 and all(isinstance(p, int) and p > 0 for p in ports)
    assert lab_hardened.hostname == "mx.lab.test"
    assert lab_hardened.domains == ("lab.test",)
    assert lab_hardened.users == {"user": "password"}
    assert lab_hardened.cert_path is not None and lab_hardened.cert_path.read_text().startswith(
        "-----BEGIN CERT"
    )
    assert str(lab_hardened.listening["mx"]) == f"mx (STARTTLS) on 127.0.0.1:{lab_hardened.port}"


def test_stop_closes_listeners_and_sessions() -> None:
    lab = LabServer(free_config()).start()
    port = lab.port
    session = Dialog("127.0.0.1", port)
    assert session.reply()[0] == 220
    cert_dir = lab.cert_path.parent
    lab.stop()
    assert session.closed_by_peer()
    session.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not cert_dir.exists()  # the generated key does not outlive the lab
    lab.stop()  # idempotent


def test_port_in_use_is_a_network_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LabStartError) as failed:
            LabServer(free_config(submission_port=port)).start()
    assert failed.value.exit_code == Exit.NETWORK
    assert str(failed.value) == f"cannot listen on 127.0.0.1:{port} (submission): Address already in use"


def test_disabled_listeners() -> None:
    with LabServer(free_config(submission_port=None, smtps_port=None)) as lab:
        assert lab.port and lab.submission_port is None and lab.smtps_port is None
        assert list(lab.listening) == ["mx"]


def test_maildir_one_file_per_message(tmp_path) -> None:
    maildir = tmp_path / "mail"
    with LabServer(free_config(maildir=maildir, keep_messages=0)) as lab:
        with smtplib.SMTP("127.0.0.1", lab.port, timeout=10) as s:
            s.ehlo("client.example.org")
            for n in range(2):
                s.sendmail("", ["a@lab.test", "b@lab.test"], f"Subject: n{n}\r\n\r\nbody {n}\r\n")
        assert lab.messages == []  # keep_messages=0: nothing in memory
    files = sorted(maildir.iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)
    text = files[0].read_bytes()
    assert text.startswith(
        b"Return-Path: <>\r\nX-Lab-Rcpt-To: <a@lab.test>\r\nX-Lab-Rcpt-To: <b@lab.test>\r\n"
    )
    assert {b"body 0" in f.read_bytes() for f in files} == {True, False}


def test_own_certificate(tmp_path, lab_hardened: LabServer) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    shutil.copy(lab_hardened.cert_path, cert)
    shutil.copy(lab_hardened.key_path, key)
    with LabServer(free_config(cert=cert, key=key)) as lab:
        assert lab.cert_path == cert
        context = ssl.create_default_context(cafile=str(cert))
        with smtplib.SMTP_SSL("127.0.0.1", lab.smtps_port, context=context, timeout=10) as s:
            assert s.noop()[0] == 250
    assert cert.exists()  # the user's files are left alone


def test_custom_domain_hostname_users() -> None:
    config = free_config(hostname="mail.example.test", domains=("a.test", "b.test"), users={"alice": "pw"})
    with LabServer(config) as lab:
        with Dialog("127.0.0.1", lab.port) as d:
            assert d.line() == "220 mail.example.test ESMTP smtpprobe-lab"
            d.cmd("EHLO client.example.org")
            d.cmd("MAIL FROM:<x@example.org>")
            assert d.cmd("RCPT TO:<x@b.test>") == "250 2.1.5 Ok"
            assert d.cmd("RCPT TO:<x@lab.test>") == "554 5.7.1 <x@lab.test>: Relay access denied"
        context = ssl.create_default_context(cafile=str(lab.cert_path))
        # smtplib would greet with getfqdn(), an IP literal on hosts without an FQDN: name it.
        with smtplib.SMTP_SSL(
            "127.0.0.1", lab.smtps_port, context=context, timeout=10, local_hostname="client.example.org"
        ) as s:
            s.login("alice", "pw")


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6() -> None:
    with LabServer(LabConfig(host="::1", port=0, submission_port=0, smtps_port=0)) as lab:
        assert str(lab.listening["mx"]).endswith(f"on [::1]:{lab.port}")
        with Dialog("::1", lab.port) as d:
            assert d.reply()[0] == 220
            d.cmd("EHLO client.example.org")
            d.cmd("MAIL FROM:<a@example.org>")
            assert d.cmd("RCPT TO:<x@example.net>") == "554 5.7.1 <x@example.net>: Relay access denied"
        context = ssl.create_default_context(cafile=str(lab.cert_path))
        with smtplib.SMTP_SSL("::1", lab.smtps_port, context=context, timeout=10) as s:  # SAN ::1
            assert s.noop()[0] == 250
