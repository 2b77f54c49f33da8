"""The catalogue against real Postfix 3.7: a strict instance passes every scenario under --policy hardened
(HELO checks answered at RCPT, smtpd_delay_reject=yes); a permissive one (open relay, HELO optional)
fails missing-helo and open-relay with explanations that say so; a relay hidden behind a STARTTLS
requirement is found, and the relaying proven by the test's own delivery; a default run delivers nothing;
a hardened Postfix passes the whole catalogue, probes included, with exit 0."""

from __future__ import annotations

import json
import re
import smtplib
import ssl

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
        "tls-posture",  # the TLS scans: tests/test_tls_postfix.py
        *extra,
    )


def test_strict_postfix_passes_every_scenario_under_the_hardened_policy(postfix_strict):
    run = run_catalogue(postfix_strict)
    assert run.code == Exit.OK, run.out[-3000:] + run.err
    doc = json.loads(run.out)
    assert doc["summary"] == {"pass": 69, "info": 0, "skip": 0, "warn": 0, "error": 0, "fail": 0, "total": 69}
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
    # submission demands STARTTLS first (530): a gate, not the answer; inside TLS the 503 is
    assert reasons[("missing-helo", "submission")] == (
        "MAIL FROM:<smtpprobe@client.example.org>: got 503 5.5.1 Error: send HELO/EHLO first"
    )
    helo_sub = next(r for r in doc["results"] if (r["id"], r["role"]) == ("missing-helo", "submission"))
    assert helo_sub["summary"] == (
        "Tested inside TLS (after STARTTLS), as the server required (STARTTLS required "
        "(530 5.7.0 Must issue a STARTTLS command first))."
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
    local_forms = {k for k in relay if k[0].split("/")[1].startswith(("percent", "quoted", "bang", "double"))}
    helo_names = {("ip-literal-helo", "mx"), ("non-fqdn-helo", "mx"), ("invalid-helo", "mx")}
    missing_helo = {("missing-helo", "mx"), ("missing-helo", "submission")}  # inside TLS on submission
    # a foreign domain is taken on all three ports (mynetworks 0.0.0.0/0): the open relay is the fail
    assert failed == relay
    assert len(relay) == 48 and len(local_forms) == 30
    # %, ! and quoted forms at the server's own domain: Postfix takes them at RCPT but refuses a made-up
    # local user in the same form (the control), so it routes them, and it does relay them to example.net
    # (tests/test_compatibility.py checks that consequence): a fail decided by the control's refusal
    for key in local_forms:
        assert by_key[key]["reason"].startswith("RCPT TO:<nosuchuser-smtpprobe-7f3a"), by_key[key]["reason"]
        assert "550 5.1.1" in by_key[key]["reason"], by_key[key]["reason"]
    # HELO optional and unchecked: leniency RFC 5321 allows (info), an invalid name taken: a warn
    assert {k: verdicts[k] for k in missing_helo | helo_names} == {
        **dict.fromkeys(missing_helo | helo_names - {("invalid-helo", "mx")}, "info"),
        ("invalid-helo", "mx"): "warn",
    }
    assert set(verdicts.values()) == {"pass", "info", "warn", "fail"}
    helo = by_key[("missing-helo", "mx")]
    assert helo["summary"] == (
        "MAIL FROM:<smtpprobe@client.example.org>: got 250 2.1.0 Ok, a leniency the RFC allows [RFC 5321 "
        "§4.1.4; Postfix smtpd_helo_required]: RFC 5321 lets a server accept a transaction from a client that "
        "never said HELO (so acceptance is only an info), but a hardened MX refuses it, because spamware often "
        "skips the greeting."
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


def _mail(inst, *, starttls: bool, rcpt: str, subject: str) -> None:
    """The test's own delivery (smtplib, not smtpprobe): the consequence a verdict is checked against."""
    with smtplib.SMTP(inst.host, inst.smtp_port, timeout=10) as client:
        client.ehlo("client.example.org")
        if starttls:
            client.starttls(context=ssl._create_unverified_context())
            client.ehlo("client.example.org")
        client.sendmail("antispam@example.org", [rcpt], f"Subject: {subject}\r\n\r\nrelay check\r\n")


def test_a_relay_behind_a_starttls_requirement_is_found(postfix_factory):
    # port 25 demands STARTTLS before MAIL (530) and, once inside TLS, relays anything
    inst = postfix_factory("open", {"smtpd_tls_security_level": "encrypt"})  # mynetworks 0.0.0.0/0
    run = smtpprobe(
        "run",
        "--server",
        inst.host,
        "-p",
        f"mx={inst.smtp_port}",
        "--helo",
        "client.example.org",
        "--only",
        "open-relay",
        "--format",
        "json",
    )
    assert run.code == Exit.FAILED, run.out[-2000:] + run.err
    results = {r["id"]: r for r in json.loads(run.out)["results"]}
    direct = ("null-sender", "foreign-sender", "server-name-sender", "ip-literal-sender", "source-route-ip")
    for case in direct:
        result = results[f"open-relay/{case}"]
        assert result["verdict"] == "fail", (case, result["reason"])
        # the first try met the gate, the second went through STARTTLS and was relayed
        received = [e["text"] for e in result["transcript"] if e["kind"] == "received"]
        assert any("530 5.7.0 Must issue a STARTTLS command first" in line for line in received)
        assert result["reason"].endswith(
            "got 250 2.1.5 Ok [inside TLS (after STARTTLS), as the server required (STARTTLS required "
            "(530 5.7.0 Must issue a STARTTLS command first))]"
        )
    assert inst.relayed(settle=True) == []  # relay probes never send DATA: nothing was relayed by smtpprobe
    # the consequence, checked by the test itself: without STARTTLS the server refuses MAIL (what the old
    # engine took for "relay refused"); after STARTTLS it really relays to a foreign domain
    try:
        _mail(inst, starttls=False, rcpt="relaytest@example.net", subject="plaintext try")
        raise AssertionError("MAIL was accepted without STARTTLS")
    except smtplib.SMTPSenderRefused as refused:
        assert refused.smtp_code == 530
    _mail(inst, starttls=True, rcpt="relaytest@example.net", subject="relayed after STARTTLS")
    relayed = inst.relayed(settle=True)
    assert len(relayed) == 1 and b"Subject: relayed after STARTTLS" in relayed[0]
    assert b"relaytest@example.net" in relayed[0]


def _connections(inst) -> int:
    """Connections Postfix logged from 127.0.0.1 (the bed's readiness probes come from 127.0.0.2)."""
    return len(re.findall(r"\]: connect from \S+\[127\.0\.0\.1\]", inst.maillog()))


def test_a_default_run_delivers_nothing_and_opens_no_burst(postfix_factory):
    inst = postfix_factory("strict")
    run = smtpprobe(
        "run",
        "--server",
        inst.host,
        "-p",
        f"mx={inst.smtp_port}",
        "-p",
        f"submission={inst.submission_port}",
        "-p",
        f"smtps={inst.smtps_port}",
        "--helo",
        "client.example.org",
        "--skip",
        "tls-posture",  # the TLS scans: many short handshakes, and this Postfix accepts TLS 1.0 (test_tls_postfix.py)
        "--format",
        "json",
    )
    assert run.code == Exit.OK, run.out[-2000:] + run.err
    results = json.loads(run.out)["results"]
    assert not any("attack" in r["tags"] for r in results)  # the security probes are opt-in
    assert inst.delivered() == [] and inst.relayed() == []  # no message to the mailbox or the relay box
    # one connection per result, plus one per gate passed (missing-helo on submission: again after STARTTLS)
    again = [e for r in results for e in r["transcript"] if e["text"].startswith("gated by ")]
    assert len(results) == 69 and len(again) == 1
    # plus one reachability check per port before the run (three ports): no burst, nothing else
    assert _connections(inst) == 70 + 3
    # nothing was addressed to a domain from the greeting (mx.lab.test): the default recipient is <postmaster>
    sent = [e["text"] for r in results for e in r["transcript"] if e["kind"] == "sent"]
    assert "RCPT TO:<postmaster>" in sent
    assert not any(line.startswith("RCPT TO:<postmaster@") for line in sent)
    # Postfix takes <postmaster> whatever the HELO: without --local-rcpt those three checks say "not tested"
    skipped = {r["id"] for r in results if r["verdict"] == "skip"}
    assert skipped == {"ip-literal-helo", "non-fqdn-helo", "invalid-helo"}
    assert {r["verdict"] for r in results} == {"pass", "skip"}


def test_probes_that_deliver_mail_need_an_explicit_local_rcpt(postfix_factory):
    inst = postfix_factory("strict")
    run = smtpprobe(
        "run",
        "--server",
        inst.host,
        "-p",
        f"mx={inst.smtp_port}",
        "--helo",
        "client.example.org",
        "--only",
        "smtp-smuggling/lf-lf",
        "--format",
        "json",
    )
    assert run.code == Exit.OK, run.out[-2000:] + run.err
    results = json.loads(run.out)["results"]
    assert {r["verdict"] for r in results} == {"skip"} and len(results) == 2
    assert results[0]["summary"] == (
        "not run: this probe delivers mail to {local_rcpt}; give --local-rcpt ADDR to allow it."
    )
    assert inst.delivered() == [] and _connections(inst) == 1  # the reachability check alone


HARDENED = {
    "smtpd_forbid_bare_newline": "yes",
    "smtpd_forbid_unauth_pipelining": "yes",
    "disable_vrfy_command": "yes",
    "smtpd_client_connection_count_limit": 10,
    "smtpd_recipient_limit": 200,
}


def test_a_hardened_postfix_passes_everything_under_the_hardened_policy(postfix_factory):
    inst = postfix_factory("strict", HARDENED)
    run = run_catalogue(inst, "--only", "all")
    assert run.code == Exit.OK, run.out[-3000:] + run.err
    doc = json.loads(run.out)
    verdicts = {(r["id"], r["role"]): r["verdict"] for r in doc["results"]}
    assert doc["summary"]["fail"] == 0 and doc["summary"]["error"] == 0 and doc["summary"]["total"] == 122
    # what is left is allowed leniency (info) and MUSTs without known harm (warn), never a fail:
    assert {k: v for k, v in verdicts.items() if v in ("info", "warn")} == {
        ("line-length", "mx"): "info",  # a 4103-octet line taken whole: RFC 5321 §4.5.3.1 asks for no limits
        ("command-arguments/quit", "mx"): "info",  # QUIT x -> 221: the client quits, as asked
        ("bare-cr-command", "mx"): "warn",  # RFC 5321 §2.3.8: Postfix 3.7 reads a bare CR as text
        ("nul-in-command", "mx"): "warn",  # RFC 5321 §4.1.2
    }
    # the 28 smuggling probes delivered their first message each, never the smuggled second one
    delivered = inst.delivered()
    headers = [m.split(b"\n\n", 1)[0] for m in delivered]  # the smuggled text is in each body, as text
    assert len(delivered) == 28 and not any(b"Subject: smtpprobe smuggled message" in h for h in headers)
