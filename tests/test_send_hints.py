"""send's first-hour mistakes (issue 15), against the lab: the TLS mode mixed up either way says what to try,
the default EHLO name is one a strict server takes, a recipient without @ is refused before connecting, and
without --server the MX it picked is named."""

from __future__ import annotations

import socket

from smtpprobe.identity import FALLBACK_HELO, default_helo
from tests.cli import smtpprobe


def test_plaintext_to_an_implicit_tls_port_hints_tls_on_connect(lab_hardened):
    run = smtpprobe(
        "send",
        "--server",
        f"127.0.0.1:{lab_hardened.smtps_port}",
        "--to",
        "postmaster@lab.test",
        "--helo",
        "client.example.org",
        "--greeting-timeout",
        "1",
    )
    assert run.code == 3
    assert run.err_lines == ["*** no complete reply within 1s"]
    assert run.out.splitlines()[-1] == (
        "=== hint: no greeting: a port that speaks TLS from the first byte (implicit TLS, RFC 8314; usually 465) "
        "waits in silence for a TLS handshake; try --tls-on-connect"
    )


def test_implicit_tls_to_a_plaintext_port_hints_starttls(lab_hardened):
    run = smtpprobe(
        "send",
        "--server",
        f"127.0.0.1:{lab_hardened.port}",
        "--to",
        "postmaster@lab.test",
        "--helo",
        "client.example.org",
        "--tls-on-connect",
    )
    assert run.code == 12
    assert run.err_lines == ["*** TLS handshake failed: wrong version number"]
    assert (
        "=== hint: the server answered in plaintext (its greeting), so this port does not speak TLS from the "
        "start: drop --tls-on-connect, and use --tls for STARTTLS" in run.out
    )


def test_default_helo_is_one_a_strict_server_accepts(lab_hardened):
    name = socket.gethostname()
    assert default_helo() == (name if "." in name else FALLBACK_HELO)
    run = smtpprobe(
        "send",
        "--server",
        f"127.0.0.1:{lab_hardened.port}",
        "--to",
        "postmaster@lab.test",
        "--quit-after",
        "rcpt",
    )
    assert f" -> EHLO {default_helo()}" in run.out
    assert run.code == 0, run.out + run.err  # the hardened lab refuses a bare 'vm' with 504


def test_recipient_without_at_is_refused_before_connecting():
    run = smtpprobe("send", "--server", "127.0.0.1:1", "--to", "userlab.test")
    assert run.code == 2 and run.out == ""
    assert run.err_lines == [
        ("smtpprobe: --to 'userlab.test' is not an address (no @): write user@domain (only 'postmaster' may go "
        "without a domain)")
    ]
    assert smtpprobe("send", "--server", "127.0.0.1:1", "--to", "postmaster").code == 3  # RFC 5321 §4.1.1.3


def test_without_server_the_mx_it_picked_is_named(dns_server, monkeypatch):
    """In-process, with dnspython's resolver pointed at the test bed's NSD (the real DNS server; only the
    resolver's address is changed, as /etc/resolv.conf would). healthy.test's MX is mail.healthy.test."""
    import dns.resolver
    from click.testing import CliRunner

    from smtpprobe.cli.send import send

    class Pointed(dns.resolver.Resolver):
        def __init__(self, *args, **kwargs):
            super().__init__(configure=False)
            self.nameservers, self.port = [dns_server.host], dns_server.port

    monkeypatch.setattr(dns.resolver, "Resolver", Pointed)
    result = CliRunner().invoke(send, ["--to", "postmaster@healthy.test", "--port", "1", "--timeout", "3"])
    assert (
        result.output.splitlines()[0] == "=== MX for healthy.test: mail.healthy.test (the lowest preference)"
    )


def test_unresolvable_name_and_nothing_listening_say_what_to_check():
    run = smtpprobe("send", "--server", "no-such-host.invalid", "--to", "postmaster@lab.test")
    assert run.code == 3
    assert run.err_lines == ["*** cannot resolve no-such-host.invalid: Name or service not known"]
    assert run.out.splitlines()[-1] == "=== hint: check the name in --server (a typo?), or give an IP address"
    run = smtpprobe("send", "--server", "127.0.0.1:1", "--to", "postmaster@lab.test")
    assert run.out.splitlines()[-1] == (
        "=== hint: nothing listens on that port: check the port (the lab prints its ports: smtpprobe lab --port 0)"
    )


def test_repl_mixups_say_what_to_try_and_end_cleanly(lab_hardened):
    run = smtpprobe("repl", f"127.0.0.1:{lab_hardened.port}", "--tls-on-connect", input="")
    assert run.code == 12
    assert "=== hint: the server answered in plaintext (its greeting), so this port does not speak TLS from the " \
           "start: drop --tls-on-connect, and use /starttls for STARTTLS" in run.out
    assert "Bad file descriptor" not in run.err and " -> QUIT" not in run.out  # nothing sent on a broken link
    run = smtpprobe("repl", f"127.0.0.1:{lab_hardened.smtps_port}", "--timeout", "1", input="NOOP\n")
    assert run.code == 3
    assert "=== hint: no greeting: a port that speaks TLS from the first byte" in run.out


def test_port_465_without_implicit_tls_is_said_before_the_wait():
    """A real implicit-TLS server on loopback cannot take port 465 in a test; the hint is decided by the port
    number alone, so the pure function is checked, and that it is not said for other ports."""
    from smtpprobe import hints

    assert hints.port_mode(465, "none") == (
        "port 465 usually speaks TLS from the first byte (implicit TLS, RFC 8314): add --tls-on-connect"
    )
    assert hints.port_mode(465, "implicit") is None and hints.port_mode(587, "none") is None
