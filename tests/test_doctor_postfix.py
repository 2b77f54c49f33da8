"""`smtpprobe doctor` against a real Postfix (the strict profile of conformance.md §4.6) with the NSD test zones.
Postfix delays HELO restrictions to RCPT (smtpd_delay_reject=yes): the IP-literal HELO passes EHLO and is
refused at RCPT TO, and the doctor must still name it as the sender's fault."""

from __future__ import annotations

from tests.cli import smtpprobe
from tests.test_doctor_lab import BROKEN, HEALTHY, section


def doctor(dns, postfix, *args):
    return smtpprobe("doctor", "--resolver", dns.address, "--dnsbl", "bl.test", "--timeout", "10", "--server",
                     "127.0.0.1", "--to", postfix.local_rcpt, "--port",
                     f"mx={postfix.smtp_port},submission={postfix.submission_port},smtps={postfix.smtps_port}",
                     *args, timeout=90)


def test_healthy_sender_passes_postfix_strict_without_delivering(dns_server, postfix_factory):
    postfix = postfix_factory("strict")
    run = doctor(dns_server, postfix, *HEALTHY)
    assert run.code == 0, run.out + run.err
    assert "**PASS: Nothing wrong found on the sender's side.**" in run.out
    verified = section(run.out, "What the sender verified")
    assert f"port {postfix.smtp_port}: EHLO → STARTTLS → MAIL → RCPT accepted, TLSv1.3" in verified
    assert f"port {postfix.submission_port}: EHLO → STARTTLS accepted" in verified
    assert f"port {postfix.smtps_port}: EHLO accepted" in verified
    assert "<~  220 mx.lab.test ESMTP Postfix" in run.out  # the real thing answered on 465
    assert " ~> RCPT TO:<postmaster@lab.test>" in run.out and "<~  250 2.1.5 Ok" in run.out
    assert postfix.delivered() == [] and postfix.relayed() == []  # no DATA: nothing queued


def test_broken_sender_ip_literal_refused_at_rcpt_and_spf_fail(dns_server, postfix_factory):
    postfix = postfix_factory("strict")
    run = doctor(dns_server, postfix, *BROKEN)
    assert run.code == 1, run.out + run.err
    yours = section(run.out, "Problems on the sender's side")
    assert "SPF mfrom bob@broken.test: fail" in yours
    assert "HELO [127.0.0.1] is an address literal" in yours
    assert (f"127.0.0.1 port {postfix.smtp_port} refused the recipient (RCPT TO)" in yours and
            "`554 5.7.1 <[127.0.0.1]>: Helo command rejected: IP-literal HELO not accepted here`" in yours)
    assert "Meaning: IP-literal HELO refused by policy" in yours
    # the transcript shows where: EHLO and MAIL were accepted, RCPT refused
    assert " ~> EHLO [127.0.0.1]" in run.out and "<~* 554 5.7.1 <[127.0.0.1]>" in run.out
    assert postfix.delivered() == []


def test_send_delivers_to_postfix(dns_server, postfix_factory):
    postfix = postfix_factory("strict")
    run = smtpprobe("doctor", "--resolver", dns_server.address, "--dnsbl", "bl.test", *HEALTHY, "--server",
                    f"127.0.0.1:{postfix.smtp_port}", "--to", postfix.local_rcpt, "--send", timeout=90)
    assert run.code == 0, run.out + run.err
    assert "<~  250 2.0.0 Ok: queued as" in run.out
    [message] = postfix.delivered()
    assert b"Subject: smtpprobe doctor test" in message and b"Return-Path: <alice@healthy.test>" in message
