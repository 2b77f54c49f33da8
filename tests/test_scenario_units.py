"""Pure parts of the engine: expectation matching and wording, templates, port specs and targets, exit codes."""

from __future__ import annotations

import pytest

from smtpprobe.errors import UsageError
from smtpprobe.exitcodes import Exit
from smtpprobe.protocol.reader import ReplyReader
from smtpprobe.scenario.expect import Outcome, describe, describe_outcome, matches
from smtpprobe.scenario.expect_spec import parse_expectation
from smtpprobe.scenario.target import build_target, parse_port_spec
from smtpprobe.scenario.variables import Environment, TemplateError, address_literal, check, fill, names
from smtpprobe.scenario.verdict import Result, Verdict, exit_code, judged


def reply(raw: bytes):
    (parsed,) = ReplyReader().feed(raw)
    return parsed


def outcome(raw: bytes | None = None, **flags) -> Outcome:
    return Outcome(replies=[reply(raw)] if raw else [], **flags)


def expect(**table):
    return parse_expectation(table, "expect")


@pytest.mark.parametrize(
    "table, raw, flags, result",
    [
        ({"code": 503}, b"503 5.5.1 Error: need MAIL command\r\n", {}, True),
        ({"code": [503, 530]}, b"530 5.7.0 Must issue a STARTTLS command first\r\n", {}, True),
        ({"code": 503}, b"250 2.1.5 Ok\r\n", {}, False),
        ({"class": "5xx"}, b"554 5.7.1 Relay access denied\r\n", {}, True),
        ({"class": ["4xx", "5xx"]}, b"454 4.7.1 Relay access denied\r\n", {}, True),
        ({"enhanced": "5.7.1"}, b"554 5.7.1 Relay access denied\r\n", {}, True),
        ({"enhanced": "5.7.*"}, b"550 5.7.23 SPF\r\n", {}, True),
        ({"enhanced": "5.5.*"}, b"501 Syntax: HELO hostname\r\n", {}, False),  # no enhanced code at all
        ({"text": "relay access"}, b"554 5.7.1 <a@b>: Relay access denied\r\n", {}, True),
        ({"refused": True}, b"450 4.7.1 greylisted\r\n", {}, True),
        ({"refused": True}, None, {"closed": True}, True),
        ({"refused": True}, None, {"timed_out": True}, False),  # silence is not a refusal
        ({"refused": False}, b"354 go ahead\r\n", {}, True),
        ({"closed": True}, b"421 4.7.0 bye\r\n", {"closed": True}, True),
        ({"silent": True}, None, {"timed_out": True}, True),
        ({"silent": True}, b"250 unsolicited\r\n", {}, False),
        ({"code": 250}, None, {"closed": True}, False),
        ({"tls": True, "class": "2xx"}, b"220 ready\r\n", {"tls": True}, True),
        ({"any_of": [{"class": "5xx"}, {"closed": True}]}, None, {"closed": True}, True),
        ({"any_of": [{"class": "5xx"}, {"closed": True}]}, b"250 ok\r\n", {}, False),
    ],
)
def test_matches(table, raw, flags, result):
    assert matches(expect(**table), outcome(raw, **flags)) is result


def test_advertises_uses_the_ehlo_extensions():
    got = Outcome(
        replies=[reply(b"250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n")],
        extensions={"STARTTLS": "", "AUTH": "PLAIN"},
    )
    assert matches(expect(advertises="starttls"), got)
    assert not matches(expect(not_advertises=["AUTH"]), got)
    assert not matches(expect(advertises="STARTTLS"), outcome(b"250 mx\r\n"))  # not an EHLO reply
    assert describe_outcome(got, show_extensions=True) == "250 offering STARTTLS, AUTH"


@pytest.mark.parametrize(
    "table, words",
    [
        ({"code": 503}, "503"),
        ({"code": [503, 530]}, "503 or 530"),
        ({"class": ["4xx", "5xx"]}, "a 4xx or 5xx reply"),
        ({"refused": True}, "a refusal (4xx/5xx, or the connection closed)"),
        ({"class": "2xx", "not_advertises": "AUTH"}, "a 2xx reply not offering AUTH"),
        (
            {"code": 554, "enhanced": "5.7.1", "text": "relay"},
            "554 with enhanced code 5.7.1 (where ENHANCEDSTATUSCODES is offered), with text matching /relay/",
        ),
        ({"enhanced": "5.7.1"}, "a reply with enhanced code 5.7.1 (where ENHANCEDSTATUSCODES is offered)"),
        ({"closed": True}, "the connection closed"),
        ({"code": 421, "closed": True}, "421 then the connection closed"),
        ({"class": "2xx", "tls": True}, "a 2xx reply with TLS established"),
        ({"silent": True}, "no reply"),
        ({"any_of": [{"class": "5xx"}, {"closed": True}]}, "a 5xx reply or the connection closed"),
        ({"code": 503, "describe": "a sequence error"}, "a sequence error"),
    ],
)
def test_describe(table, words):
    assert describe(expect(**table)) == words


def test_describe_outcome_covers_what_can_happen():
    assert describe_outcome(outcome(b"250-a\r\n250 b\r\n")) == "250-a (+1 more line)"
    assert describe_outcome(outcome(None, closed=True)) == "the connection closed without a reply"
    assert describe_outcome(outcome(b"421 bye\r\n", closed=True)) == "421 bye, then the connection closed"
    assert describe_outcome(outcome(None, timed_out=True, waited=2.0)) == "no reply within 2s"
    assert (
        describe_outcome(Outcome(failure="TLS handshake failed: x", closed=True))
        == "TLS handshake failed: x, then the connection closed without a reply"
    )


def test_templates():
    assert names("MAIL FROM:<{sender}> {{literal}}") == ["sender"]
    assert fill("{{x}} {a}", {"a": "{b}", "b": "B"}.__getitem__) == "{x} B"
    with pytest.raises(TemplateError, match="stray '}'"):
        names("a}")
    with pytest.raises(TemplateError, match="bad variable name"):
        names("{Not-A-Name}")
    with pytest.raises(TemplateError, match="undefined variable {nope}"):
        check("{nope}", {})
    check("{helo} {mine}", {"mine": "{sender}"})
    assert address_literal("192.0.2.1") == "[192.0.2.1]"
    assert address_literal("2001:db8::1") == "[IPv6:2001:db8::1]"


def test_environment_derives_parts_and_learns_from_the_connection():
    env = Environment(
        {
            "sender": "ci@example.org",
            "local_rcpt": "postmaster",
            "foreign_rcpt": "relaytest@example.net",
        },
        {"to": "{foreign_user}%{foreign_domain}"},
        "mx.host",
    )
    assert (
        env.fill("{local_rcpt}|{local_user}|{local_domain}|{local_postmaster}")
        == "postmaster|postmaster||postmaster"
    )
    env.learn(server_name="mx.lab.test", server_ip="::1", client_ip="::1")
    assert (  # the greeting's name is {server_name}, never a recipient's domain
        env.fill("{local_domain}|{sender_user} {to} {server_literal}")
        == "|ci relaytest%example.net [IPv6:::1]"
    )
    given = Environment({"local_rcpt": "user@lab.test"}, {}, "mx.host")
    assert given.fill("{local_user} {local_domain} {local_postmaster}") == "user lab.test postmaster@lab.test"


@pytest.mark.parametrize(
    "spec, parsed",
    [
        ("mx=2525", ("mx", 2525)),
        ("submission", ("submission", 587)),
        ("smtps", ("smtps", 465)),
        ("2525", ("mx", 2525)),
        ("SMTPS=4650", ("smtps", 4650)),
    ],
)
def test_port_specs(spec, parsed):
    assert parse_port_spec(spec) == parsed


def test_build_target_precedence_and_defaults():
    profile = {
        "server": "mx.example.org",
        "ports": {"mx": 25, "submission": 587},
        "policy": "hardened",
        "sender": "profile@example.org",
        "timeout": 5,
    }
    target = build_target(
        None,
        (),
        profile,
        {"sender": "cli@example.org", "policy": None, "timeout": None, "helo": "ci.example.org"},
    )
    assert (target.host, target.ports, target.policy, target.timeout) == (
        "mx.example.org",
        {"mx": 25, "submission": 587},
        "hardened",
        5.0,
    )
    assert target.variables["sender"] == "cli@example.org"
    assert target.variables["local_rcpt"] == "postmaster"
    assert target.variables["foreign_rcpt"] == "relaytest@example.net"
    plain = build_target("127.0.0.1:2525", (), {}, {"helo": "{braces}.example.org"})
    assert (
        plain.ports == {"mx": 2525} and plain.variables["helo"] == "{{braces}}.example.org"
    )  # text, not template
    assert build_target("[::1]:2525", ("smtps=4650",), {}, {}).ports == {"smtps": 4650, "mx": 2525}
    with pytest.raises(UsageError, match="--server is required"):
        build_target(None, (), {}, {})
    secret = build_target("h", (), {}, {"auth_password": "hunter2"}).public()
    assert secret["variables"]["auth_password"] == "<redacted>"


def test_policy_and_exit_codes():
    assert judged("hardening", "rfc") is Verdict.WARN and judged("hardening", "hardened") is Verdict.FAIL
    assert judged("rfc", "rfc") is Verdict.FAIL

    def result(verdict: Verdict) -> Result:
        return Result("x", "x", "mx", 25, verdict, "", "", "rfc", "")

    assert exit_code([result(Verdict.PASS), result(Verdict.WARN), result(Verdict.SKIP)]) is Exit.OK
    assert exit_code([result(Verdict.ERROR), result(Verdict.PASS)]) is Exit.NETWORK
    assert exit_code([result(Verdict.ERROR), result(Verdict.FAIL)]) is Exit.FAILED


def test_step_kinds_and_actions_agree():
    from smtpprobe.scenario.actions import ACTIONS
    from smtpprobe.scenario.steps import KINDS

    assert set(KINDS) == set(ACTIONS)


@pytest.mark.parametrize(
    "line, kwargs, gate",
    [
        ("530 5.7.0 Must issue a STARTTLS command first", {}, "starttls"),  # Postfix, Exim
        ("530 5.5.1 Invalid command: Must issue a STARTTLS command first", {}, "starttls"),  # OpenSMTPD
        ("530 5.7.0 Authentication required", {}, "auth"),
        ("530 Error: authentication Required", {}, "auth"),  # nodemailer smtp-server
        ("421 4.7.0 mx.lab.test Error: too many errors", {}, "throttling"),
        ("450 4.7.1 Too many connections, try again later", {}, "throttling"),
        ("421 4.4.2 mx.lab.test Error: timeout exceeded", {}, None),  # a 421 that answers: judged
        ("421 Command too long", {}, None),
        ("554 5.7.1 <x@example.net>: Relay access denied", {}, None),  # the answer to a relay probe
        ("554 mx.lab.test ESMTP not accepting messages", {"greeting": True}, "connect"),
        ("220 mx.lab.test ESMTP", {"greeting": True}, None),
        ("554 5.5.0 Error: SMTP protocol synchronization", {"pipelined": True}, "pipelining"),
        ("554 5.5.0 Error: SMTP protocol synchronization", {}, None),
        ("500 5.5.1 Invalid command: Pipelining not supported", {"pipelined": True}, "pipelining"),
    ],
)
def test_gates_are_recognised_in_one_place(line, kwargs, gate):
    from smtpprobe.protocol.reply import Reply
    from smtpprobe.scenario.gates import classify

    reply = Reply(int(line[:3]), (line[4:],), line.encode() + b"\r\n")
    assert classify(reply, **kwargs) == gate
