"""`smtpprobe run` with the built-in catalogue against the lab, both profiles, on all three port roles:
the verdicts, the explanations, every output format and the exit codes, as a user runs it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from smtpprobe.exitcodes import Exit
from smtpprobe.scenario import build_target, catalogue_path, load_paths, run_all
from smtpprobe.scenario.verdict import Verdict
from tests.cli import smtpprobe
from tests.servers._common import free_port

HELO_CHECKS = {"ip-literal-helo", "non-fqdn-helo", "invalid-helo"}


def ports(lab) -> list[str]:
    return [
        "-p",
        f"mx={lab.port}",
        "-p",
        f"submission={lab.submission_port}",
        "-p",
        f"smtps={lab.smtps_port}",
    ]


def lab_target(lab, policy: str, **extra: str):
    specs = (f"mx={lab.port}", f"submission={lab.submission_port}", f"smtps={lab.smtps_port}")
    return build_target(
        lab.host,
        specs,
        {},
        {"policy": policy, "local_rcpt": "postmaster@lab.test", "helo": "client.example.org", **extra},
    )


def conformance():
    """The catalogue without the security probes (tag `attack`: tests/test_security_probes.py) and the TLS
    scans (tag `tls-posture`: tests/test_tls_lab.py)."""
    return [s for s in load_paths([catalogue_path()]) if not {"attack", "tls-posture"} & set(s.tags)]


def verdicts(results) -> dict[tuple[str, str], Verdict]:
    return {(r.id, r.role): r.verdict for r in results}


def test_hardened_lab_passes_the_whole_catalogue_under_the_hardened_policy(lab_hardened):
    creds = {"auth_user": "user", "auth_password": "password"}
    results = run_all(conformance(), lab_target(lab_hardened, "hardened", **creds))
    assert len(results) == 69
    assert {r.id: r.summary for r in results if r.verdict is not Verdict.PASS} == {}
    # RCPT before MAIL on submission and smtps: the lab demands AUTH first (530), a gate the runner
    # passes with the credentials, then sees the 503 it asks about
    rcpt = {r.role: r for r in results if r.id == "rcpt-before-mail"}
    assert (
        rcpt["submission"].checks[-1].short
        == "RCPT TO:<postmaster@lab.test>: got 503 5.5.1 Error: need MAIL command"
    )
    assert "after AUTH with the given credentials" in str(rcpt["submission"].transcript)


def test_without_credentials_an_auth_gate_is_not_tested_never_a_pass(lab_hardened):
    chosen = [s for s in conformance() if s.id == "rcpt-before-mail"]
    results = {r.role: r for r in run_all(chosen, lab_target(lab_hardened, "hardened"))}
    assert results["mx"].verdict is Verdict.PASS
    for role in ("submission", "smtps"):
        assert results[role].verdict is Verdict.SKIP
        assert results[role].summary == (
            "not tested: gated by authentication required (530 5.7.0 Authentication required); "
            "give --auth-user and --auth-password to test past it."
        )


@pytest.mark.parametrize("policy", ["rfc", "hardened"])
def test_open_lab_fails_exactly_where_it_is_lenient(lab_open, policy):
    results = run_all(conformance(), lab_target(lab_open, policy))
    lenient = "fail" if policy == "hardened" else "warn"
    expected = {key: Verdict.PASS for key in verdicts(results)}
    for role in ("mx", "submission", "smtps"):
        for r in results:
            if r.id in ("open-relay/double-at-ip", "open-relay/double-at-name"):
                continue
            if r.id.startswith("open-relay/"):
                # a foreign domain taken at RCPT is an open relay (a fail under either policy); a %, ! or
                # quoted form at the lab's own domain is taken at RCPT like a made-up local user in the same
                # form (the open lab takes any local part), never shown relayed: a warn
                local_form = r.id.split("/")[1].startswith(("percent", "quoted", "bang", "double"))
                expected[(r.id, role)] = Verdict.WARN if local_form else Verdict.FAIL
    expected.update(
        {
            # leniency RFC 5321 allows (§4.1.1.1, §4.1.4): an info under either policy, never a fail
            ("missing-helo", "mx"): Verdict.INFO,
            ("missing-helo", "submission"): Verdict.INFO,
            ("ip-literal-helo", "mx"): Verdict.INFO,
            ("non-fqdn-helo", "mx"): Verdict.INFO,
            ("invalid-helo", "mx"): Verdict.WARN,  # RFC 5321 §4.1.2: a MUST 501, but no known harm
            ("submission-requires-tls", "submission"): Verdict(lenient),
        }
    )
    assert verdicts(results) == expected
    by_key = {(r.id, r.role): r for r in results}
    # aiosmtpd refuses a double @ as a syntax error, so those two tricks do not relay even here
    assert (
        by_key[("open-relay/double-at-ip", "mx")].checks[-1].short
        == "RCPT TO:<relaytest@example.net@[127.0.0.1]>: got 553 5.1.3 Error: malformed address"
    )
    relay = by_key[("open-relay/source-route-ip", "mx")]
    assert relay.reason == (
        "RCPT TO:<@[127.0.0.1]:relaytest@example.net>: expected a 5xx refusal of MAIL or RCPT, got 250 2.1.5 Ok"
    )
    assert "an open relay lets anyone send mail to any domain through this server" in relay.summary
    percent = by_key[("open-relay/percent-hack-ip", "mx")]
    assert "a made-up local user in the same form as well, so it takes any local part" in percent.summary
    assert "relay probes send no DATA, so whether it would relay the address is not shown" in percent.summary
    # the control was asked (and taken: the open lab takes any local part), in the same transaction
    sent = [e["text"] for e in percent.transcript if e["kind"] == "sent"]
    assert sent[-3:-1] == [
        "RCPT TO:<relaytest%example.net@[127.0.0.1]>",
        "RCPT TO:<nosuchuser-smtpprobe-7f3a@[127.0.0.1]>",
    ], sent
    helo = by_key[("missing-helo", "mx")]
    assert helo.summary.startswith(
        "MAIL FROM:<smtpprobe@client.example.org>: got 250 2.1.0 Ok, a leniency the RFC allows "
        "[RFC 5321 §4.1.4; Postfix smtpd_helo_required]: RFC 5321 lets a server accept"
    )
    auth = by_key[("submission-requires-tls", "submission")]
    assert "expected a 2xx reply not offering AUTH, got 250 offering" in auth.reason
    assert (
        "Also: MAIL FROM:<smtpprobe@client.example.org>: expected a 5xx refusal" in auth.summary
        or policy == "hardened"
    )  # under hardened the first fail stops the scenario


def test_cli_table_against_the_hardened_lab_is_fast_and_exits_0(lab_hardened):
    run = smtpprobe(
        "run",
        "--server",
        lab_hardened.host,
        *ports(lab_hardened),
        "--local-rcpt",
        "postmaster@lab.test",
        "--policy",
        "hardened",
        "--skip",
        "attack",
        "--skip",
        "tls-posture",
    )
    assert run.code == Exit.OK, run.out + run.err
    lines = run.out.splitlines()
    assert lines[0] == (
        f"Target 127.0.0.1 (mx {lab_hardened.port}, submission {lab_hardened.submission_port}, "
        f"smtps {lab_hardened.smtps_port}), policy hardened"
    )
    assert lines[2].split() == ["ID", "PORT", "VERDICT", "REASON"]
    # RCPT before MAIL on submission and smtps: gated by the lab's AUTH requirement, no credentials given
    assert lines[-1].startswith("69 results: 67 pass, 0 info, 2 skip, 0 warn, 0 error, 0 fail in ")
    assert float(lines[-1].rsplit(" ", 1)[1].rstrip("s")) < 5  # the whole catalogue, 69 connections
    assert "Traceback" not in run.err


def test_cli_json_follows_schema_1(lab_open):
    run = smtpprobe(
        "run",
        "--server",
        lab_open.host,
        *ports(lab_open),
        "--local-rcpt",
        "postmaster@lab.test",
        "--format",
        "json",
        "--only",
        "missing-helo,open-relay/null-sender,implicit-tls",
    )
    assert run.code == Exit.FAILED, run.err
    doc = json.loads(run.out)
    assert set(doc) == {
        "schema",
        "tool",
        "generated",
        "target",
        "seconds",
        "results",
        "not_run",
        "summary",
        "exit_code",
    }
    assert doc["schema"] == 1 and doc["exit_code"] == 1
    assert doc["target"]["ports"] == {
        "mx": lab_open.port,
        "submission": lab_open.submission_port,
        "smtps": lab_open.smtps_port,
    }
    assert doc["summary"] == {"pass": 1, "info": 2, "skip": 0, "warn": 0, "error": 0, "fail": 3, "total": 6}
    first = doc["results"][0]
    assert set(first) >= {
        "id",
        "verdict",
        "port",
        "role",
        "summary",
        "reason",
        "basis",
        "reference",
        "checks",
        "transcript",
    }
    assert (first["id"], first["verdict"], first["port"]) == ("missing-helo", "info", lab_open.port)
    assert first["transcript"][0] == {
        "ms": first["transcript"][0]["ms"],
        "kind": "info",
        "text": "step 1: connect",
        "tls": False,
        "refused": False,
    }
    relay = [r for r in doc["results"] if r["id"] == "open-relay/null-sender"]
    assert [r["role"] for r in relay] == ["mx", "submission", "smtps"] and all(
        r["verdict"] == "fail" for r in relay
    )


def test_cli_junit_to_a_file_with_the_table_on_stdout(lab_open, tmp_path):
    report = tmp_path / "smtp.xml"
    run = smtpprobe(
        "run",
        "--server",
        lab_open.host,
        *ports(lab_open),
        "--local-rcpt",
        "postmaster@lab.test",
        "--policy",
        "hardened",
        "--format",
        "junit",
        "--output",
        str(report),
        "--skip",
        "attack",
        "--skip",
        "tls-posture",
    )
    assert run.code == Exit.FAILED
    assert "open-relay/bang-path" in run.out and run.out.splitlines()[-1].startswith("69 results: 21 pass")
    root = ET.parse(report).getroot()
    # 18 relays to a foreign domain (6 forms x 3 ports) and submission-requires-tls; the HELO leniencies are
    # infos, the %/!/quoted forms at the lab's own domain warns (JUnit: passing cases)
    assert root.tag == "testsuites" and root.get("tests") == "69" and root.get("failures") == "19"
    suites = {s.get("name"): s for s in root}
    assert set(suites) == {"smtpprobe.mx", "smtpprobe.submission", "smtpprobe.smtps"}
    case = suites["smtpprobe.mx"].find("testcase[@name='open-relay/source-route-ip']")
    failure = case.find("failure")
    assert failure.get("message").startswith("Expected a 5xx refusal of MAIL or RCPT at or before step 3")
    assert (
        " -> RCPT TO:<@[127.0.0.1]:relaytest@example.net>" in failure.text
        and "<-  250 2.1.5 Ok" in failure.text
    )


def test_cli_unreachable_target_exits_3():
    run = smtpprobe(
        "run", "--server", f"127.0.0.1:{free_port()}", "--only", "unknown-command", "--timeout", "2"
    )
    assert run.code == Exit.NETWORK, run.out + run.err
    assert run.out == "" and "cannot connect to 127.0.0.1:" in run.err  # one line (issue 15), not a table


def test_cli_target_profile_and_only_skip(lab_hardened, tmp_path):
    profile = tmp_path / "lab.toml"
    profile.write_text(
        f'server = "127.0.0.1"\npolicy = "hardened"\nlocal_rcpt = "postmaster@lab.test"\n'
        f"[ports]\nmx = {lab_hardened.port}\nsmtps = {lab_hardened.smtps_port}\n"
    )
    run = smtpprobe(
        "run", "--target", str(profile), "--only", "helo", "--skip", "empty-helo", "--format", "json"
    )
    assert run.code == Exit.OK, run.err
    doc = json.loads(run.out)
    assert [(r["id"], r["role"]) for r in doc["results"]] == [
        ("missing-helo", "mx"),
        ("ip-literal-helo", "mx"),
        ("non-fqdn-helo", "mx"),
        ("invalid-helo", "mx"),
    ]
    assert doc["target"]["policy"] == "hardened" and doc["not_run"] == []
