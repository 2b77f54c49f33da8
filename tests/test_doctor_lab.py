"""`smtpprobe doctor` as a user runs it, against the lab and the NSD test zones (tests/zones):
healthy.test (SPF, DKIM, DMARC right for 127.0.0.1, PTR/FCrDNS mail.healthy.test) and broken.test
(SPF fails for 127.0.0.1); the broken sender also greets with an IP literal."""

from __future__ import annotations

import re

import pytest

from tests.cli import smtpprobe

HEALTHY = ("--from", "alice@healthy.test", "--ip", "127.0.0.1", "--helo", "mail.healthy.test",
           "--dkim-selector", "doctor")
BROKEN = ("--from", "bob@broken.test", "--ip", "127.0.0.1", "--helo", "[127.0.0.1]", "--dkim-selector", "doctor")


def doctor(dns, *args, timeout=60):
    return smtpprobe("doctor", "--resolver", dns.address, "--dnsbl", "bl.test", "--timeout", "10", *args,
                     timeout=timeout)


def ports(lab, *roles):
    names = {"mx": lab.port, "submission": lab.submission_port, "smtps": lab.smtps_port}
    return ",".join(f"{role}={names[role]}" for role in roles)


def section(markdown: str, title: str) -> str:
    """The text of one '## title' section of the report."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.DOTALL | re.MULTILINE)
    return match.group(1) if match else ""


def test_healthy_sender_passes_and_the_report_shows_what_was_verified(dns_server, lab_factory):
    lab = lab_factory()
    run = doctor(dns_server, *HEALTHY, "--server", "127.0.0.1", "--to", "postmaster@lab.test",
                 "--port", ports(lab, "mx", "submission", "smtps"))
    assert run.code == 0, run.out + run.err
    assert "**PASS: Nothing wrong found on the sender's side.**" in run.out
    assert "## Problems on the sender's side" not in run.out
    verified = section(run.out, "What the sender verified")
    for fact in ("SPF mfrom alice@healthy.test: pass", "selector doctor: 256-bit ed25519 key",
                 "policy reject", "127.0.0.1 -> mail.healthy.test -> 127.0.0.1 (forward-confirmed)",
                 "not listed on bl.test", "HELO mail.healthy.test resolves to 127.0.0.1",
                 f"port {lab.port}: EHLO → STARTTLS → MAIL → RCPT accepted, TLSv1.3",
                 f"port {lab.submission_port}: EHLO → STARTTLS accepted",
                 f"port {lab.smtps_port}: EHLO accepted"):
        assert fact in verified, fact
    assert "| Sending IP (--ip) | 127.0.0.1 |" in run.out and "| Probes connected from | 127.0.0.1 |" in run.out
    # stopped after RCPT: nothing delivered, no DATA on the wire
    assert lab.messages == []
    transcripts = section(run.out, "Transcripts")
    assert " ~> RCPT TO:<postmaster@lab.test>" in transcripts and "DATA" not in transcripts


def test_broken_sender_gets_each_fault_with_its_fix(dns_server, lab_factory):
    lab = lab_factory()
    run = doctor(dns_server, *BROKEN, "--server", f"127.0.0.1:{lab.port}", "--to", "postmaster@lab.test")
    assert run.code == 1, run.out + run.err
    assert "**FAIL: 3 problem(s) on the sender's side.**" in run.out
    yours = section(run.out, "Problems on the sender's side")
    assert "HELO [127.0.0.1] is an address literal" in yours and "fully qualified name" in yours
    assert "SPF mfrom bob@broken.test: fail" in yours and "Add the sending IP to the SPF record" in yours
    # the lab refuses the literal at EHLO (Postfix does it at RCPT): explained, with commands filled in
    assert (f"127.0.0.1 port {lab.port} refused the EHLO/HELO" in yours
            and "`554 5.7.1 <[127.0.0.1]>: Helo command rejected: IP-literal HELO not accepted here`" in yours)
    assert f"Check: `smtpprobe audit broken.test --ip 127.0.0.1 --resolver {dns_server.address}`" in yours
    assert f"Check: `smtpprobe run --only ip-literal-helo --server 127.0.0.1:{lab.port}`" in yours
    assert "### Port" in run.out and "<** 554 5.7.1" in run.out
    assert lab.messages == []


def test_authenticated_submission_reaches_rcpt_and_send_delivers_one_message(dns_server, lab_factory):
    lab = lab_factory()
    run = smtpprobe("doctor", "--resolver", dns_server.address, "--dnsbl", "bl.test", *HEALTHY, "--server",
                    "127.0.0.1", "--to", "someone@example.net", "--port", ports(lab, "submission"), "--auth-user",
                    "user", "--send", env={"SMTPPROBE_AUTH_PASSWORD": "password"})
    assert run.code == 0, run.out + run.err
    assert f"port {lab.submission_port}: EHLO → STARTTLS → AUTH → MAIL → RCPT → DATA accepted" in run.out
    assert "password" not in run.out and " ~> AUTH PLAIN <redacted>" in run.out
    [message] = lab.messages
    assert message.mail_from == "alice@healthy.test" and message.authenticated_as == "user"
    assert b"Subject: smtpprobe doctor test" in message.data
    assert "| Message sent | yes: DATA with a small test message (--send) |" in run.out


def test_target_from_the_mx_of_the_recipient_domain(dns_server, lab_factory):
    lab = lab_factory(domains=("rcpt.test",))
    run = doctor(dns_server, *HEALTHY, "--to", "postmaster@rcpt.test", "--port", f"mx={lab.port}")
    assert run.code == 0, run.out + run.err
    assert "| Target | mx.rcpt.test [127.0.0.1] (MX of rcpt.test (preference 10)) |" in run.out


def test_relay_refusal_is_undetermined_not_the_senders_fault(dns_server, lab_hardened):
    run = doctor(dns_server, *HEALTHY, "--server", f"127.0.0.1:{lab_hardened.port}", "--to", "victim@example.net")
    assert run.code == 0, run.out + run.err
    unclear = section(run.out, "Undetermined: the receiving admin's log decides")
    assert "refused the recipient (RCPT TO)" in unclear and "Relay access denied" in unclear
    assert "**PASS: Nothing wrong found on the sender's side (1 undetermined).**" in run.out


def test_nothing_listening_is_exit_3_and_says_so(dns_server):
    from tests.servers._common import free_port

    port = free_port()
    run = doctor(dns_server, *HEALTHY, "--server", f"127.0.0.1:{port}")
    assert run.code == 3, run.out + run.err
    assert "**INCOMPLETE: Nothing wrong found in the sender's DNS, but no port of the target could be reached" in run.out
    assert "Connection refused" in section(run.out, "Undetermined: the receiving admin's log decides")


@pytest.mark.parametrize("args, words", [
    (("--port", "mx=1,lmtp=24"), "doctor checks the roles mx, submission, smtps"),
    (("--port", "mx=1,pop3=110"), "'pop3' is not a port role"),
    (("--helo", "[1.2.3]"), "not an address literal"),
    (("--ip", "not-an-ip"), "--ip: not an IP address"),
    (("--from", "nobody"), "--from: expected local@domain"),
    (("--dkim-selector", "bad selector"), "not a valid selector"),
    (("--report", "/nonexistent-dir/r.html"), "no such directory"),
])
def test_bad_input_is_one_line_and_exit_2(dns_server, args, words):
    base = dict(zip(HEALTHY[::2], HEALTHY[1::2]))
    base.update(dict(zip(args[::2], args[1::2])))
    run = doctor(dns_server, *[x for kv in base.items() for x in kv], "--server", "127.0.0.1")
    assert run.code == 2, run.out + run.err
    assert words in run.err and "Traceback" not in run.err
    assert run.out == ""


def test_no_target_at_all_is_bad_input():
    run = smtpprobe("doctor", *HEALTHY)
    assert run.code == 2 and "give --server HOST[:PORT] or --to ADDR" in run.err


def test_html_report_has_collapsible_transcripts(dns_server, lab_factory, tmp_path):
    lab = lab_factory()
    out = tmp_path / "report.html"
    run = doctor(dns_server, *HEALTHY, "--server", "127.0.0.1", "--to", "victim@example.net", "--port",
                 ports(lab, "mx", "smtps"), "--report", str(out))
    assert run.code == 0, run.err
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<details") == 2
    # the refused port opens by itself, the accepted one stays folded
    assert f"<details open><summary>Port {lab.port} (mx) — refused at RCPT: 554, TLSv1.3</summary>" in html
    assert f"<details><summary>Port {lab.smtps_port} (smtps) — accepted" in html
    assert "&lt;victim@example.net&gt;: Relay access denied" in html
    assert '<div class="verdict ok">PASS: Nothing wrong found on the sender' in html
    assert "<script" not in html and "<link" not in html and "src=" not in html  # self-contained, inert


def test_html_report_of_a_broken_sender(dns_server, lab_factory, tmp_path):
    lab = lab_factory()
    out = tmp_path / "report.html"
    run = doctor(dns_server, *BROKEN, "--server", f"127.0.0.1:{lab.port}", "--report", str(out))
    assert run.code == 1, run.err
    html = out.read_text()
    assert '<div class="verdict fail">FAIL: 3 problem(s) on the sender&#x27;s side.</div>' in html
    assert html.count('<div class="item yours">') == 3
    assert "&lt;[127.0.0.1]&gt;: Helo command rejected: IP-literal HELO not accepted here" in html


def test_markdown_report_file(dns_server, lab_factory, tmp_path):
    lab = lab_factory()
    out = tmp_path / "report.md"
    run = doctor(dns_server, *HEALTHY, "--server", f"127.0.0.1:{lab.port}", "--report", str(out), "-q")
    assert run.code == 0, run.err
    assert run.out.strip() == "Nothing wrong found on the sender's side."
    text = out.read_text()
    assert text.startswith("# smtpprobe doctor report") and "## Transcripts" in text
    assert "smtpprobe doctor --from alice@healthy.test --ip 127.0.0.1 --helo mail.healthy.test" in text
