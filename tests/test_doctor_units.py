"""The doctor's pure parts: port roles, input validation, HELO literals, the verdict on a refusal, and the
escaping of hostile reply text in both report formats. No network."""

from __future__ import annotations

import datetime

import pytest

from smtpprobe.audit import findings as F
from smtpprobe.doctor.plan import Options, PortPlan, helo_literal, parse_ports, validate
from smtpprobe.doctor.probe import Probe
from smtpprobe.doctor.run import DoctorReport
from smtpprobe.doctor.verdict import fill_placeholders, judge
from smtpprobe.errors import UsageError
from smtpprobe.protocol.reply import Reply
from smtpprobe.transcript import Transcript


def test_well_known_ports_get_their_roles():
    assert parse_ports("25,587,465") == [PortPlan("mx", 25), PortPlan("submission", 587), PortPlan("smtps", 465)]


def test_role_mapping_for_any_port_and_mixing():
    assert parse_ports("mx=2525, submission=5870,SMTPS=4650,25") == [
        PortPlan("mx", 2525), PortPlan("submission", 5870), PortPlan("smtps", 4650), PortPlan("mx", 25)]
    assert parse_ports("smtp=2525,submissions=4650") == [PortPlan("mx", 2525), PortPlan("smtps", 4650)]
    assert parse_ports("25,25") == [PortPlan("mx", 25)]


@pytest.mark.parametrize("text, words", [
    ("lmtp=24", "doctor checks the roles mx, submission, smtps"), ("pop3=110", "'pop3' is not a port role"), ("mx=0", "1 to 65535"),
    ("mx=70000", "1 to 65535"), ("25,,587", "empty item"), ("", "empty"), ("mx=abc", "1 to 65535"),
])
def test_bad_port_lists_name_the_item(text, words):
    with pytest.raises(UsageError, match=words):
        parse_ports(text)


def _opts(**kw):
    base = {"sender": "alice@example.org", "ip": "192.0.2.25", "helo": "mail.example.org", "server": "mx.example.net"}
    base.update(kw)
    return Options(**base)


def test_server_port_without_port_list():
    assert validate(_opts(server="127.0.0.1:2525")).plan == [PortPlan("mx", 2525)]
    assert validate(_opts(server="127.0.0.1:465")).plan == [PortPlan("smtps", 465)]
    assert validate(_opts()).plan == [PortPlan("mx", 25)]
    assert validate(_opts(server="[::1]:587")).server_host == "::1"


@pytest.mark.parametrize("kw, words", [
    ({"server": "h:2525", "ports": "25"}, "not both"),
    ({"server": None}, "--server HOST"),
    ({"sender": "nobody"}, "--from"),
    ({"ip": "192.0.2"}, "--ip"),
    ({"helo": "[192.0.2.300]"}, "address literal"),
    ({"helo": "two words"}, "--helo"),
    ({"to": "no-at-sign"}, "--to"),
])
def test_bad_options(kw, words):
    with pytest.raises(UsageError, match=words):
        validate(_opts(**kw))


def test_helo_literals():
    assert helo_literal("[192.0.2.1]") == "192.0.2.1"
    assert helo_literal("[IPv6:2001:db8::1]") == "2001:db8::1"
    assert helo_literal("mail.example.org") is None


def test_placeholders_filled_with_this_runs_values():
    values = {"HOST": "mx.example.net", "DOMAIN": "example.org", "IP": "192.0.2.25", "NAME": "mail.example.org",
              "FROM": "a@example.org", "TO": "b@example.net"}
    assert fill_placeholders("smtpprobe send --server HOST --helo NAME --from ADDR --to ADDR", values) == (
        "smtpprobe send --server mx.example.net --helo mail.example.org --from a@example.org --to b@example.net")
    assert fill_placeholders("smtpprobe audit DOMAIN --ip IP", values) == "smtpprobe audit example.org --ip 192.0.2.25"
    # only whole words: a HOSTNAME or an IPv6 is not a placeholder
    assert fill_placeholders("HOSTNAME IPv6", values) == "HOSTNAME IPv6"


def _probe(code: int, text: str, stage: str) -> Probe:
    reply = Reply(code, (text,), f"{code} {text}\r\n".encode())
    return Probe(PortPlan("mx", 25), "mx.example.net", Transcript(), ["EHLO", "MAIL", "RCPT"], failed_stage=stage,
                 error=f"refused: {reply}", error_kind="refused", reply=reply, peer="192.0.2.10", local="192.0.2.25")


@pytest.mark.parametrize("code, text, stage, side", [
    (554, "5.7.1 <[192.0.2.25]>: Helo command rejected: IP-literal HELO not accepted here", "rcpt", "yours"),
    (503, "5.5.1 Error: send HELO/EHLO first", "mail", "yours"),
    (554, "5.7.1 <victim@example.net>: Relay access denied", "rcpt", "unclear"),
    (550, "5.7.23 SPF validation failed", "rcpt", "yours"),  # no server text known: read from 5.7.23
    (450, "4.2.0 <x@example.net>: Recipient address rejected: Greylisted", "rcpt", None),
])
def test_refusals_are_sorted_by_the_knowledge_bases_side(code, text, stage, side):
    v = judge([], [_probe(code, text, stage)], {})
    placed = [name for name in ("yours", "theirs", "unclear") if getattr(v, name)]
    if side is None:
        assert len(placed) == 1  # wherever the knowledge base puts it, exactly once
    else:
        assert placed == [side]
    item = getattr(v, placed[0])[0]
    assert item.reply == f"{code} {text}"
    assert item.id == f"refused.{stage}"


def test_audit_findings_sorted_by_severity():
    v = judge([F.error("spf.result", "SPF fail", "Add the IP"), F.warning("dmarc.x", "w"), F.ok("dkim.key", "k"),
               F.info("host.mta-sts-none", "i")], [], {})
    assert [i.id for i in v.yours] == ["spf.result"] and v.yours[0].fix == ["Add the IP"]
    assert [i.id for i in v.advice] == ["dmarc.x"]
    assert [i.id for i in v.verified] == ["dkim.key"]


def _report(probe: Probe) -> DoctorReport:
    opts = validate(_opts())
    r = DoctorReport(opts, datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), None, "postmaster", [], None,
                     [probe])
    r.verdict = judge([], [probe], {})
    return r


def test_hostile_reply_text_is_escaped_in_html_and_markdown():
    from smtpprobe.doctor.html import render_html
    from smtpprobe.doctor.markdown import render_markdown

    evil = "5.7.1 <script>alert(1)</script> ``` | `x`"
    probe = _probe(550, evil, "rcpt")
    probe.transcript.received(f"550 {evil}", refused=True)
    html = render_html(_report(probe))
    assert "<script>" not in html and "&lt;script&gt;" in html
    md = render_markdown(_report(probe))
    fences = [line for line in md.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0  # the reply's ``` did not open or close a block
    assert f"- Reply: ```` 550 {evil} ````" in md  # whole, in a span one backtick longer than its ``` run


def test_the_same_refusal_on_two_ports_is_one_problem():
    first = _probe(554, "5.7.1 <[192.0.2.25]>: Helo command rejected: IP-literal HELO not accepted here",
                   "ehlo")
    second = _probe(554, first.reply.text, "ehlo")
    second.plan = PortPlan("smtps", 465)
    v = judge([], [first, second], {})
    assert len(v.yours) == 1
    assert v.yours[0].summary == "mx.example.net ports 25, 465 refused the EHLO/HELO"
