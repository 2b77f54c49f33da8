"""The security probes of the catalogue (tag `attack`), each shown to pass and to fail (or warn) against a
real server or a purpose-built vulnerable one (tests/servers/vulnerable.py): real Postfix 3.7 with its
defaults and with the fixing knobs, the lab (aiosmtpd 1.4.6), and a server with every flaw."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smtpprobe.scenario import build_target, catalogue_path, load_paths, run_all
from smtpprobe.scenario.verdict import Verdict
from tests.servers.postfix import PostfixInstance, _start

PASS, INFO, WARN, FAIL = Verdict.PASS, Verdict.INFO, Verdict.WARN, Verdict.FAIL
SCENARIOS = [s for s in load_paths([catalogue_path()]) if "attack" in s.tags]
SMUGGLING = {s.id for s in SCENARIOS if s.base_id == "smtp-smuggling"}
# Postfix 3.7 with smtpd_forbid_bare_newline = no reads lines up to LF and drops a CR before it, so
# every sequence that puts "." alone on an LF-ended line ends the data there; CR-only ones do not.
# Both ways of sending (one write, and the smuggled commands in a later write) are smuggleable there.
POSTFIX_37_SMUGGLEABLE = {
    f"smtp-smuggling/{case}{variant}"
    for case in ("lf-lf", "lf-crlf", "crlf-lf", "crlf-cr-crlf", "crcrlf-crcrlf", "lflf-crlf")
    for variant in ("", "-split")
}
FIXED = {
    "smtpd_forbid_bare_newline": "yes",
    "smtpd_forbid_unauth_pipelining": "yes",
    "disable_vrfy_command": "yes",
    "smtpd_client_connection_count_limit": 10,
    "smtpd_recipient_limit": 200,
}


def probe(host: str, ports: dict[str, int], only: str = "attack", policy: str = "rfc") -> dict:
    """Run the selected probes; {(id, role): Result}."""
    selectors = tuple(only.split(","))
    chosen = [s for s in SCENARIOS if s.matches(selectors)]
    target = build_target(
        host,
        tuple(f"{role}={port}" for role, port in ports.items()),
        {},
        {"policy": policy, "local_rcpt": "postmaster@lab.test", "helo": "client.example.org"},
    )
    # concurrency 8: under the per-client limits of the lab and of postfix_fixed (10 connections)
    return {(r.id, r.role): r for r in run_all(chosen, target, concurrency=8)}


def verdicts(results: dict) -> dict:
    return {key: r.verdict for key, r in results.items()}


def pf_ports(inst: PostfixInstance) -> dict[str, int]:
    return {"mx": inst.smtp_port, "submission": inst.submission_port}


@pytest.fixture(scope="module")
def postfix_fixed() -> Iterator[PostfixInstance]:
    """Postfix 3.7 with the knobs that fix what the probes find (127.0.0.1 is outside $mynetworks)."""
    inst = _start("strict", FIXED)
    yield inst
    inst.stop()


@pytest.fixture(scope="module")
def on_postfix_37(postfix_strict) -> dict:
    return probe(postfix_strict.host, pf_ports(postfix_strict))


@pytest.fixture(scope="module")
def on_postfix_fixed(postfix_fixed) -> dict:
    return probe(postfix_fixed.host, pf_ports(postfix_fixed))


@pytest.fixture(scope="module")
def on_vulnerable(vulnerable_all) -> dict:
    return probe(vulnerable_all.host, {"mx": vulnerable_all.port, "submission": vulnerable_all.port})


@pytest.fixture(scope="module")
def on_lab(lab_hardened) -> dict:
    ports = {
        "mx": lab_hardened.port,
        "submission": lab_hardened.submission_port,
        "smtps": lab_hardened.smtps_port,
    }
    return probe(lab_hardened.host, ports, "smtp-smuggling,bare-cr,nul-in,line-length,command-arg,auth-")


# -- smuggling ---------------------------------------------------------------------------------------


def test_vulnerable_server_fails_every_smuggling_sequence_with_the_second_250(on_vulnerable, vulnerable_all):
    results = {k: r for k, r in on_vulnerable.items() if k[0] in SMUGGLING}
    assert len(results) == 28 and {r.verdict for r in results.values()} == {FAIL}  # 14 sequences x 2 ways
    for way in ("", "-split"):
        reason = results[(f"smtp-smuggling/cr-cr{way}", "mx")].reason
        # the smuggled MAIL FROM, RCPT TO, DATA and message were answered: quoted as the evidence
        assert (
            "got 5 replies: 250 2.0.0 Ok: queued as " in reason
            and "; 250 2.1.0 Ok; 250 2.1.5 Ok; 354" in reason
        )
    assert any(b"smtpprobe smuggled message" in m for m in vulnerable_all.messages)


def test_postfix_37_default_is_smuggleable_with_bare_lf_sequences(on_postfix_37):
    failed = {k[0] for k, v in verdicts(on_postfix_37).items() if k[0] in SMUGGLING and v is FAIL}
    assert failed == POSTFIX_37_SMUGGLEABLE
    passed = {k[0] for k, v in verdicts(on_postfix_37).items() if k[0] in SMUGGLING and v is PASS}
    assert passed == SMUGGLING - POSTFIX_37_SMUGGLEABLE
    summary = on_postfix_37[("smtp-smuggling/lf-lf", "mx")].summary
    assert "CVE-2023-51764" in summary and "; 250 2.1.0 Ok; 250 2.1.5 Ok; 354 " in summary  # smuggled ones


def test_postfix_with_forbid_bare_newline_passes_every_sequence(on_postfix_fixed):
    assert {k[0]: v for k, v in verdicts(on_postfix_fixed).items() if k[0] in SMUGGLING} == dict.fromkeys(
        SMUGGLING, PASS
    )


def test_forbid_bare_newline_exclusions_mynetworks_undo_the_fix(postfix_factory):
    # smtpd_forbid_bare_newline_exclusions defaults to $mynetworks: a client inside it is still smuggleable
    inst = postfix_factory("strict", {"smtpd_forbid_bare_newline": "yes", "mynetworks": "127.0.0.0/8"})
    results = probe(inst.host, {"mx": inst.smtp_port}, "smtp-smuggling/lf-lf")  # and lf-lf-split
    assert verdicts(results) == {
        ("smtp-smuggling/lf-lf", "mx"): FAIL,
        ("smtp-smuggling/lf-lf-split", "mx"): FAIL,
    }
    subjects = [m for m in inst.delivered() if b"Subject: smtpprobe smuggled message" in m]
    assert len(subjects) == 2  # the smuggled messages really were delivered, each as its own message


def test_lab_aiosmtpd_146_is_not_smuggleable(on_lab):
    assert {k[0] for k, v in verdicts(on_lab).items() if k[0] in SMUGGLING and v is PASS} == SMUGGLING


# -- STARTTLS ----------------------------------------------------------------------------------------

TLS_PROBES = ("starttls-injection", "starttls-argument", "starttls-not-offered-after-tls")


@pytest.mark.parametrize("role", ["mx", "submission"])
def test_starttls_probes_pass_on_postfix_and_fail_on_the_vulnerable_server(
    on_postfix_37, on_vulnerable, role
):
    assert {p: on_postfix_37[(p, role)].verdict for p in TLS_PROBES} == dict.fromkeys(TLS_PROBES, PASS)
    assert {p: on_vulnerable[(p, role)].verdict for p in TLS_PROBES} == {
        "starttls-injection": FAIL,  # exploitable (CVE-2011-0411)
        "starttls-argument": WARN,  # `STARTTLS x` -> 220: a MUST (RFC 3207 §4) not met, but no known harm
        "starttls-not-offered-after-tls": FAIL,
    }
    injected = on_vulnerable[("starttls-injection", role)].reason
    assert injected.endswith("got 2 replies: 250-mx.vuln.test; 221 2.0.0 Bye")  # the injected EHLO's reply


# -- talking out of turn, line syntax ------------------------------------------------------------------

PIPELINING = (
    "pipelining-abuse/noop-not-last",
    "pipelining-abuse/ehlo-not-last",
    "pipelining-abuse/without-ehlo",
)


def test_early_talker_and_pipelining_warn_on_postfix_37_and_pass_with_forbid_unauth_pipelining(
    on_postfix_37, on_postfix_fixed
):
    for probe_id in ("early-talker", *PIPELINING):
        assert on_postfix_37[(probe_id, "mx")].verdict is WARN, probe_id
        assert on_postfix_fixed[(probe_id, "mx")].verdict is PASS, probe_id
    assert (
        "'EHLO client.example.org\\r\\nNOOP\\r\\n' sent before the greeting"
        in on_postfix_37[("early-talker", "mx")].reason
    )
    checks = on_postfix_fixed[("early-talker", "mx")].checks
    assert checks[-1].short.endswith("got 554 5.5.0 Error: SMTP protocol synchronization")


def test_bare_lf_command_passes_only_with_forbid_bare_newline_reject(on_postfix_37, postfix_factory):
    assert on_postfix_37[("bare-lf-command", "mx")].verdict is WARN  # lenient: a warn whatever the policy
    inst = postfix_factory("strict", {"smtpd_forbid_bare_newline": "reject"})
    results = probe(inst.host, {"mx": inst.smtp_port}, "bare-lf-command", policy="hardened")
    result = results[("bare-lf-command", "mx")]
    assert result.verdict is PASS
    assert "550 5.5.2 mx.lab.test Error: bare <LF> received" in result.checks[-1].short


def test_line_syntax_probes_pass_on_the_lab_and_warn_on_postfix(on_lab, on_postfix_37):
    for probe_id in ("bare-cr-command", "nul-in-command", "line-length", "command-arguments/quit"):
        assert on_lab[(probe_id, "mx")].verdict is PASS, probe_id
    for probe_id in ("bare-cr-command", "nul-in-command"):  # RFC 5321 §2.3.8, §4.1.2: a MUST, no known harm
        assert on_postfix_37[(probe_id, "mx")].verdict is WARN, probe_id
    # leniency the RFC allows: QUIT x -> 221 (the client quits), a 4103-octet line taken whole (§4.5.3.1)
    for probe_id in ("line-length", "command-arguments/quit"):
        assert on_postfix_37[(probe_id, "mx")].verdict is INFO, probe_id
    assert on_postfix_37[("command-arguments/quit", "mx")].reason == "QUIT x: got 221 2.0.0 Bye (allowed)"
    for case in ("rset", "data"):  # Postfix: 501 5.5.4 Syntax: RSET / DATA
        assert on_postfix_37[(f"command-arguments/{case}", "mx")].verdict is PASS
        assert on_lab[(f"command-arguments/{case}", "mx")].verdict is PASS
    assert on_postfix_37[("line-length", "mx")].reason.startswith("NOOP xxxx")
    assert on_postfix_37[("line-length", "mx")].reason.endswith("(4103 octets): got 250 2.0.0 Ok (allowed)")


def test_arguments_taken_where_none_are_allowed_are_info(on_vulnerable):
    # RSET x, DATA x, QUIT x answered as without the argument: the client gets what it asked for; RFC 5321
    # §4.3.2 allows 501 but does not require it, so this is leniency (info), not a warn or a fail
    found = {case: on_vulnerable[(f"command-arguments/{case}", "mx")] for case in ("rset", "data", "quit")}
    assert {case: r.verdict for case, r in found.items()} == dict.fromkeys(found, INFO)
    assert found["data"].reason == "DATA x: got 354 End data with <CR><LF>.<CR><LF> (allowed)"


def test_a_server_refusing_a_512_octet_line_fails(vulnerable_factory):
    server = vulnerable_factory(max_line=200)
    result = probe(server.host, {"mx": server.port}, "line-length")[("line-length", "mx")]
    assert result.verdict is FAIL
    assert result.reason.endswith(
        "expected 250 (a 512-octet line is within the limit), got 500 5.5.2 Error: line too long"
    )


# -- enumeration, limits, AUTH, bursts -----------------------------------------------------------------


def test_vrfy_and_expn_disclosure(on_postfix_37, on_postfix_fixed, on_vulnerable):
    vrfy = on_postfix_37[("vrfy-disclosure", "mx")]
    assert vrfy.verdict is WARN and "User unknown in local recipient table" in vrfy.reason
    assert on_postfix_fixed[("vrfy-disclosure", "mx")].verdict is PASS  # disable_vrfy_command: 502 for both
    assert on_postfix_37[("expn-disclosure", "mx")].verdict is PASS  # 500 for both: not implemented
    for probe_id in ("vrfy-disclosure", "expn-disclosure"):
        assert on_vulnerable[(probe_id, "mx")].verdict is WARN
    assert on_vulnerable[("expn-disclosure", "mx")].reason == (
        "EXPN nosuchuser-smtpprobe-7f3a@lab.test: expected the same reply code as for the existing name, got 550 "
        "5.1.1 <nosuchuser-smtpprobe-7f3a@lab.test>: Recipient address rejected: User unknown"
    )


def test_too_many_recipients(on_postfix_fixed, on_vulnerable, vulnerable_factory):
    result = on_postfix_fixed[("too-many-recipients", "mx")]
    assert result.verdict is PASS and "452 4.5.3 Error: too many recipients" in result.checks[-1].short
    assert on_vulnerable[("too-many-recipients", "mx")].verdict is FAIL  # refused from the 51st on
    # 451 is still a temporary failure: the client retries those recipients (RFC 5321 §4.2.5), so only a warn
    server = vulnerable_factory(rcpt_limit=300, rcpt_limit_reply="451 4.5.3 Too many recipients")
    wrong_code = probe(server.host, {"mx": server.port}, "too-many-recipients")[("too-many-recipients", "mx")]
    assert wrong_code.verdict is WARN
    assert wrong_code.reason.endswith("got 451 4.5.3 Too many recipients, then at reply 201 of 950")


def test_auth_before_tls(on_postfix_37, lab_open):
    for role in ("mx", "submission"):
        assert on_postfix_37[("auth-before-tls", role)].verdict is PASS
    results = probe(lab_open.host, {"mx": lab_open.port}, "auth-before-tls")
    result = results[("auth-before-tls", "mx")]
    assert result.verdict is FAIL and result.reason.endswith(
        "got 535 5.7.8 Authentication credentials invalid"
    )
    assert "not-a-real-password" not in str(result.transcript)  # redacted, and made up anyway


def test_auth_failure(on_lab, on_vulnerable):
    assert on_lab[("auth-failure", "submission")].verdict is PASS
    assert on_lab[("auth-failure", "smtps")].verdict is PASS
    # a hang-up after one failure: RFC 4954 §4 says SHOULD NOT before 3 (a warn); after 3 it MAY
    dropped = on_vulnerable[("auth-failure", "submission")]
    assert dropped.verdict is WARN and dropped.reason.endswith(
        "got 421 4.7.0 Too many authentication failures"
    )
    assert len(dropped.checks) == 1  # the 421 ends the session: nothing judged after it (RFC 5321 §3.8)


def test_burst_concurrency(on_postfix_37, on_postfix_fixed):
    limited = on_postfix_fixed[("burst-concurrency", "mx")]
    assert limited.verdict is PASS
    assert "421 4.7.0 mx.lab.test Error: too many connections from 127.0.0.1" in limited.checks[-1].short
    unlimited = on_postfix_37[("burst-concurrency", "mx")]  # the default limit is 50
    assert unlimited.verdict is WARN
    assert unlimited.reason.endswith("got all 20 of 20 connections greeted, 20 open at once")
