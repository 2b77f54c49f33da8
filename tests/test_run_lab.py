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


def lab_target(lab, policy: str):
    specs = (f"mx={lab.port}", f"submission={lab.submission_port}", f"smtps={lab.smtps_port}")
    return build_target(
        lab.host,
        specs,
        {},
        {"policy": policy, "local_rcpt": "postmaster@lab.test", "helo": "client.example.org"},
    )


def conformance():
    """The catalogue without the security probes (tag `attack`: tests/test_security_probes.py)."""
    return [s for s in load_paths([catalogue_path()]) if "attack" not in s.tags]


def verdicts(results) -> dict[tuple[str, str], Verdict]:
    return {(r.id, r.role): r.verdict for r in results}


def test_hardened_lab_passes_the_whole_catalogue_under_the_hardened_policy(lab_hardened):
    results = run_all(conformance(), lab_target(lab_hardened, "hardened"))
    assert len(results) == 69
    assert {r.id: r.summary for r in results if r.verdict is not Verdict.PASS} == {}


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
                expected[(r.id, role)] = Verdict.FAIL  # an RFC 2505 matter: a fail under either policy
    expected.update(
        {
            ("missing-helo", "mx"): Verdict(lenient),
            ("missing-helo", "submission"): Verdict(lenient),
            ("ip-literal-helo", "mx"): Verdict(lenient),
            ("non-fqdn-helo", "mx"): Verdict(lenient),
            ("invalid-helo", "mx"): Verdict.FAIL,  # RFC 5321 §4.1.2: MUST 501
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
    relay = by_key[("open-relay/percent-hack-ip", "mx")]
    assert relay.reason == (
        "RCPT TO:<relaytest%example.net@[127.0.0.1]>: expected a 5xx refusal of MAIL or RCPT, "
        "got 250 2.1.5 Ok"
    )
    assert "an open relay lets anyone send mail to any domain through this server" in relay.summary
    helo = by_key[("missing-helo", "mx")]
    assert helo.summary.startswith(
        'Expected a 5xx refusal (503 "send HELO/EHLO first") to MAIL FROM:<smtpprobe@'
        "client.example.org> (step 2), got 250 2.1.0 Ok: RFC 5321 lets a server accept"
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
    )
    assert run.code == Exit.OK, run.out + run.err
    lines = run.out.splitlines()
    assert lines[0] == (
        f"Target 127.0.0.1 (mx {lab_hardened.port}, submission {lab_hardened.submission_port}, "
        f"smtps {lab_hardened.smtps_port}), policy hardened"
    )
    assert lines[2].split() == ["ID", "PORT", "VERDICT", "REASON"]
    assert lines[-1].startswith("69 results: 69 pass, 0 skip, 0 warn, 0 error, 0 fail in ")
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
    assert doc["summary"] == {"pass": 1, "skip": 0, "warn": 2, "error": 0, "fail": 3, "total": 6}
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
    assert (first["id"], first["verdict"], first["port"]) == ("missing-helo", "warn", lab_open.port)
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
    )
    assert run.code == Exit.FAILED
    assert "open-relay/bang-path" in run.out and run.out.splitlines()[-1].startswith("69 results: 21 pass")
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "69" and root.get("failures") == "48"
    suites = {s.get("name"): s for s in root}
    assert set(suites) == {"smtpprobe.mx", "smtpprobe.submission", "smtpprobe.smtps"}
    case = suites["smtpprobe.mx"].find("testcase[@name='missing-helo']")
    failure = case.find("failure")
    assert failure.get("message").startswith('Expected a 5xx refusal (503 "send HELO/EHLO first")')
    assert " -> MAIL FROM:<" in failure.text and "<-  250 2.1.0 Ok" in failure.text


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
