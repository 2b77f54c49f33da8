"""Verdicts on the multi-MTA bed (tests/servers/mtabed.py), checked against what really happened.

- chasquid 1.11 (CVE-2023-52354) and OpenSMTPD 6.8.0p2 take a smuggled message only when the bytes after
  the bogus end-of-data arrive in a later write: the split probes find it, the one-write probes pass, and the
  mailbox agrees (one smuggled message per failing probe, none for a passing one).
- The hardened configurations pass `--policy hardened` with exit 0: what they take that the RFC allows is an
  info, what departs from the RFC without harm a warn, never a fail.
"""

from __future__ import annotations

import json

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe

SMUGGLED = b"Subject: smtpprobe smuggled message"


def run(inst, *extra: str):
    result = smtpprobe(
        "run", *inst.smtpprobe_args(), "--helo", "client.example.org", "--format", "json", *extra
    )
    return result, {r["id"]: r for r in json.loads(result.out)["results"]}


def smuggled(inst) -> int:
    """Messages in the mailbox that are the smuggled one, as a message of its own (in its headers; every
    probe's first message carries the smuggled text in its body)."""
    return sum(SMUGGLED in m.split(b"\n\n", 1)[0] for m in inst.delivered(inst.local_rcpt))


@pytest.mark.parametrize("name", ["chasquid-hardened", "opensmtpd-hardened"])
def test_smuggling_is_found_in_a_later_write_and_the_mailbox_agrees(mtabed, name):
    inst = mtabed.get(name)
    before = smuggled(inst)
    outcome, results = run(inst, "--only", "smtp-smuggling/lf-lf")  # lf-lf and lf-lf-split
    assert outcome.code == Exit.FAILED, outcome.out[-2000:] + outcome.err
    assert {k: r["verdict"] for k, r in results.items()} == {
        "smtp-smuggling/lf-lf": "pass",  # one write: swallowed (chasquid) or refused as pipelining (OpenSMTPD)
        "smtp-smuggling/lf-lf-split": "fail",
    }
    # the evidence quoted: the smuggled MAIL, RCPT, DATA and message answered after the first message's 250
    assert "got 5 replies: 250 " in results["smtp-smuggling/lf-lf-split"]["reason"]
    assert smuggled(inst) == before + 1  # the consequence: exactly the one smuggled message was delivered


@pytest.mark.parametrize("name", ["chasquid-hardened", "opensmtpd-hardened"])
def test_every_smuggling_fail_is_a_smuggled_message_in_the_mailbox(mtabed, name):
    inst = mtabed.get(name)
    before = smuggled(inst)
    _, results = run(inst, "--only", "smtp-smuggling")
    failed = sorted(k for k, r in results.items() if r["verdict"] == "fail")
    assert len(results) == 28 and failed and all(k.endswith("-split") for k in failed)
    assert {r["verdict"] for r in results.values()} == {"pass", "fail"}
    assert smuggled(inst) - before == len(failed)


@pytest.mark.parametrize(
    "name",
    ["exim-hardened", "haraka-hardened", "chasquid-hardened", "smtp-server-hardened", "postfix-hardened"],
)
def test_hardened_configurations_pass_the_hardened_policy(mtabed, name):
    inst = mtabed.get(name)
    outcome, results = run(inst, "--policy", "hardened")
    assert outcome.code == Exit.OK, outcome.out[-3000:] + outcome.err
    verdicts = {r["verdict"] for r in results.values()}
    assert verdicts <= {"pass", "info", "warn"}
    # every leniency is quoted with the reply that showed it
    for r in results.values():
        if r["verdict"] == "info":
            assert r["reason"].endswith("(allowed)") and " got " in r["reason"]


def test_opensmtpd_without_tls_fails_only_for_offering_no_starttls(mtabed):
    # the bed runs Debian 12's OpenSMTPD 6.8.0p2 without TLS (its TLS handshakes fail: `EVP lib`); mail to
    # it crosses in clear text, which is the one finding; everything else passes the hardened policy
    inst = mtabed.get("opensmtpd-hardened")
    outcome, results = run(inst, "--policy", "hardened")
    assert outcome.code == Exit.FAILED
    assert [k for k, r in results.items() if r["verdict"] == "fail"] == ["starttls-offered"]
    assert results["starttls-offered"]["reason"].startswith(
        "EHLO client.example.org: expected a 2xx reply and an EHLO reply offering STARTTLS, got 250 offering"
    )
    outcome, _ = run(inst, "--policy", "hardened", "--skip", "starttls-offered")
    assert outcome.code == Exit.OK, outcome.out[-3000:]


GATED = ["ip-literal-helo", "non-fqdn-helo", "invalid-helo", "pipelining-abuse/noop-not-last"]


def test_an_auth_gate_is_not_tested_without_credentials_and_tested_after_auth_with_them(mtabed):
    # nodemailer smtp-server with its defaults: MAIL before AUTH is "530 Error: authentication Required",
    # and AUTH only inside TLS (538). Those 530s used to pass the HELO and pipelining checks.
    inst = mtabed.get("smtp-server-auth-first")
    only = ["--only", ",".join(GATED)]
    outcome, results = run(inst, *only)
    assert outcome.code == Exit.OK
    for probe_id in GATED:
        assert results[probe_id]["verdict"] == "skip"
        assert results[probe_id]["summary"] == (
            "not tested: gated by authentication required (530 Error: authentication Required); "
            "give --auth-user and --auth-password to test past it."
        )
    outcome, results = run(inst, *only, "--auth-user", inst.auth_user, "--auth-password", inst.auth_password)
    # past the gate (STARTTLS, then AUTH) the server takes every HELO name and the pipelined commands
    assert {k: r["verdict"] for k, r in results.items()} == {
        "ip-literal-helo": "info",
        "non-fqdn-helo": "info",
        "invalid-helo": "warn",
        "pipelining-abuse/noop-not-last": "warn",
    }
    transcript = results["invalid-helo"]["transcript"]
    received = [e["text"] for e in transcript if e["kind"] == "received"]
    assert any(line.startswith("235") for line in received)  # really authenticated
    assert inst.auth_password not in json.dumps(results)  # and the secret redacted


def test_a_starttls_gate_is_passed_and_the_checks_run_inside_tls(mtabed):
    inst = mtabed.get("postfix-starttls-gate")  # 530 before STARTTLS, HELO optional, pipelining taken
    _, results = run(inst, "--only", "pipelining-abuse/noop-not-last,missing-helo")
    assert results["pipelining-abuse/noop-not-last"]["verdict"] == "warn"  # was a pass on the 530
    assert results["missing-helo"]["verdict"] == "info"  # MAIL without HELO taken inside TLS
    for r in results.values():
        assert r["reason"].endswith(
            "[inside TLS (after STARTTLS), as the server required (STARTTLS required "
            "(530 5.7.0 Must issue a STARTTLS command first))]"
        )
