"""doctor's sender side: checks that could not run are listed as such, and the commands it suggests ask the
user's --resolver. Against the real NSD of tests/servers/dns.py."""

from __future__ import annotations

from smtpprobe.doctor.plan import Options
from smtpprobe.doctor.sender import check_sender
from smtpprobe.doctor.verdict import fill_placeholders


def test_unanswered_blocklists_are_listed_as_not_checked(dns_server):
    opts = Options(
        "alice@good.test",
        "192.0.2.25",
        "mail.good.test",
        resolver=dns_server.address,
        dns_timeout=2,
        dnsbl=["bl.test", "refusing.bl.test", "servfail.test"],
    )
    findings, _report = check_sender(opts)
    (line,) = [f for f in findings if f.id == "doctor.not-checked"]
    assert line.message.startswith("blocklists: not checked: ")
    assert "refusing.bl.test" in line.message and "servfail.test" in line.message
    assert "bl.test (" not in line.message.replace(
        "refusing.bl.test", ""
    )  # the list that answered is not listed


def test_dead_resolver_is_one_not_checked_line(dead_dns):
    opts = Options(
        "alice@good.test", "192.0.2.25", "mail.good.test", resolver=dead_dns.address, dns_timeout=1
    )
    findings, _report = check_sender(opts)
    (line,) = [f for f in findings if f.id == "doctor.not-checked"]
    assert line.message.startswith("DNS (SPF, DKIM, DMARC, PTR, blocklists): not checked:")


def test_suggested_commands_carry_the_resolver():
    values = {"DOMAIN": "good.test", "IP": "192.0.2.25", "HOST": "mx.good.test", "RESOLVER": "127.0.0.1:5353"}
    assert fill_placeholders("smtpprobe audit DOMAIN --ip IP", values) == (
        "smtpprobe audit good.test --ip 192.0.2.25 --resolver 127.0.0.1:5353"
    )
    assert "--resolver" not in fill_placeholders("smtpprobe repl HOST", values)  # no DNS of its own to ask
    del values["RESOLVER"]
    assert (
        fill_placeholders("smtpprobe audit DOMAIN --ip IP", values)
        == "smtpprobe audit good.test --ip 192.0.2.25"
    )
