"""The catalogue against real Postfix 3.7: a strict instance passes every scenario under --policy hardened
(HELO checks answered at RCPT, smtpd_delay_reject=yes); a permissive one (open relay, HELO optional)
fails missing-helo and open-relay with explanations that say so."""

from __future__ import annotations

import json

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe


def run_catalogue(instance, *extra: str):
    return smtpprobe(
        "run",
        "--server",
        instance.host,
        "-p",
        f"mx={instance.smtp_port}",
        "-p",
        f"submission={instance.submission_port}",
        "-p",
        f"smtps={instance.smtps_port}",
        "--local-rcpt",
        instance.local_rcpt,
        "--helo",
        "client.example.org",
        "--policy",
        "hardened",
        "--format",
        "json",
        "--skip",
        "attack",  # the security probes: tests/test_security_probes.py
        "--skip",
        "tls-posture",  # the TLS scans: tests/test_tls_postfix.py
        *extra,
    )


def test_strict_postfix_passes_every_scenario_under_the_hardened_policy(postfix_strict):
    run = run_catalogue(postfix_strict)
    assert run.code == Exit.OK, run.out[-3000:] + run.err
    doc = json.loads(run.out)
    assert doc["summary"] == {"pass": 69, "skip": 0, "warn": 0, "error": 0, "fail": 0, "total": 69}
    reasons = {(r["id"], r["role"]): r["checks"][-1]["reason"] for r in doc["results"]}
    # Postfix refuses the bad HELO names at RCPT, not at EHLO: the window catches it there
    assert reasons[("ip-literal-helo", "mx")] == (
        "RCPT TO:<postmaster@lab.test>: got 554 5.7.1 <[127.0.0.1]>: Helo "
        "command rejected: IP-literal HELO not accepted here"
    )
    assert reasons[("non-fqdn-helo", "mx")].endswith(
        "504 5.5.2 <smtpprobe>: Helo command rejected: need fully-qualified hostname"
    )
    assert reasons[("invalid-helo", "mx")].endswith(
        "501 5.5.2 <bad!name.example.org>: Helo command rejected: Invalid name"
    )
    assert reasons[("missing-helo", "mx")].endswith("got 503 5.5.1 Error: send HELO/EHLO first")
    assert reasons[("missing-helo", "submission")].endswith(
        "got 530 5.7.0 Must issue a STARTTLS command first"
    )
    assert reasons[("open-relay/source-route-name", "mx")] == (
        "RCPT TO:<@mx.lab.test:relaytest@example.net>: got 554 5.7.1 <relaytest@example.net>: Relay access denied"
    )
    assert reasons[("implicit-tls", "smtps")].startswith("EHLO client.example.org: got 250-mx.lab.test")


def test_permissive_postfix_fails_missing_helo_and_open_relay_with_the_reason(postfix_open):
    relayed_before = len(postfix_open.relayed(settle=True))  # the instance is shared with other tests
    run = run_catalogue(postfix_open)
    assert run.code == Exit.FAILED, run.err
    doc = json.loads(run.out)
    by_key = {(r["id"], r["role"]): r for r in doc["results"]}
    verdicts = {key: r["verdict"] for key, r in by_key.items()}
    failed = {key for key, verdict in verdicts.items() if verdict == "fail"}
    relay = {key for key in verdicts if key[0].startswith("open-relay/")}
    helo_names = {("ip-literal-helo", "mx"), ("non-fqdn-helo", "mx"), ("invalid-helo", "mx")}
    # every relay trick relays on all three ports (mynetworks 0.0.0.0/0); HELO is optional and unchecked
    assert failed == relay | {("missing-helo", "mx")} | helo_names
    assert len(relay) == 48
    assert set(verdicts.values()) == {"pass", "fail"}
    helo = by_key[("missing-helo", "mx")]
    assert helo["summary"] == (
        'Expected a 5xx refusal (503 "send HELO/EHLO first") to MAIL FROM:<smtpprobe@client.example.org> (step 2), '
        "got 250 2.1.0 Ok: RFC 5321 lets a server accept a transaction from a client that never said HELO, but a "
        "hardened MX refuses it, because spamware often skips the greeting [RFC 5321 §4.1.4; Postfix "
        "smtpd_helo_required] (a warn under --policy rfc, a fail under --policy hardened)."
    )
    trick = by_key[("open-relay/source-route-ip", "mx")]
    assert trick["reason"] == (
        "RCPT TO:<@[127.0.0.1]:relaytest@example.net>: expected a 5xx refusal of MAIL or RCPT, "
        "got 250 2.1.5 Ok"
    )
    assert "an open relay lets anyone send mail to any domain through this server" in trick["summary"]
    # relay probes stop at RCPT: not one DATA went out, so nothing was relayed
    assert not any(
        e["kind"] == "sent" and e["text"].startswith("DATA")
        for key in relay
        for e in by_key[key]["transcript"]
    )
    assert len(postfix_open.relayed(settle=True)) == relayed_before
