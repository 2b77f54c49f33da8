"""The small things a new user tripped over (issue 15), each as the user met it."""

from __future__ import annotations

import email
import json

from smtpprobe.knowledge import short_note
from tests.cli import smtpprobe

QUIT_SCENARIO = """
[[scenario]]
id = "quit-then-nothing"
title = "The scenario ends with its own QUIT"
basis = "rfc"
reference = "RFC 5321 §4.1.1.10"
why = "after a 221 the server closes; that close is no error of the result"
ports = ["mx"]

[[scenario.step]]
send = "EHLO {helo}"

[[scenario.step]]
send = "QUIT"
expect = { class = "2xx", describe = "221" }
"""


def test_repl_note_is_not_cut_mid_word():
    note = short_note(451, "4.7.1", "Service unavailable")
    assert note.endswith("…]"), note
    cut = note[note.index("[4.7.1: ") + 8 : -2]
    assert "Delivery not authorized, message refused (relay denied".startswith(cut)
    assert not cut.endswith(("de", " ")), cut  # ends on a whole word


def test_explain_says_a_non_standard_code_once():
    run = smtpprobe("explain", "571", "Go", "away")
    assert run.code == 0, run.err
    notes = [line for line in run.out.splitlines() if line.startswith("  ! ")]
    assert sum("571 is not" in line for line in notes) == 1, notes
    assert not any("second digit 7" in line for line in notes[1:])


def test_attachment_part_has_no_mime_version_of_its_own(lab_hardened, tmp_path):
    """What the lab received: MIME-Version once, in the message's own header (RFC 2045 §4)."""
    attached = tmp_path / "notes.txt"
    attached.write_text("hello\n")
    marker = f"attach-{tmp_path.name}"
    run = smtpprobe(
        "send", "--server", f"127.0.0.1:{lab_hardened.port}", "--to", "postmaster@lab.test",
        "--from", "me@example.org", "--helo", "client.example.org", "--header", f"Subject: {marker}",
        "--attach", str(attached),
    )
    assert run.code == 0, run.out + run.err
    data = next(m.data for m in lab_hardened.messages if marker.encode() in m.data)
    message = email.message_from_bytes(data)
    assert message["MIME-Version"] == "1.0"
    parts = list(message.walk())[1:]
    assert any(p.get_filename() == "notes.txt" for p in parts)
    assert all("MIME-Version" not in p for p in parts)
    assert data.count(b"MIME-Version") == 1


def test_spf_helo_none_says_why_not_empty_brackets(dns_server):
    run = smtpprobe(
        "audit", "good.test", "--ip", "192.0.2.66", "--helo", "other.hosts.test", "--resolver", dns_server.address,
        "--format", "json",
    )
    found = [f for f in json.loads(run.out)["findings"] if f["id"] == "spf.helo-result"]
    assert found and found[0]["message"].endswith(": none (no SPF record at that name)"), found


def test_piped_repl_sends_no_second_quit_after_221(lab_hardened):
    run = smtpprobe("repl", f"127.0.0.1:{lab_hardened.port}", "--no-notes", input="EHLO client.example.org\nQUIT\n")
    assert run.code == 0, run.err
    assert run.out.count(" -> QUIT") == 1
    assert run.out.rstrip().endswith("<-  221 2.0.0 Bye\n=== Connection closed with remote host.")


def test_repl_auth_not_offered_is_refused_without_asking_a_password(lab_hardened):
    """The hardened lab's mx port offers no AUTH, also inside TLS."""
    run = smtpprobe(
        "repl", f"127.0.0.1:{lab_hardened.port}", "--no-notes",
        input="EHLO client.example.org\n/starttls\nEHLO client.example.org\n/auth plain user\n",
        env={"SMTPPROBE_AUTH_PASSWORD": "password"},
    )
    assert run.code == 2
    assert "*** /auth: the server's EHLO reply offers no AUTH; /raw AUTH ... sends it anyway" in run.err
    assert "AUTH PLAIN" not in run.out  # nothing was sent


def test_run_verbose_after_the_scenarios_own_quit_shows_no_error(lab_hardened, tmp_path):
    (tmp_path / "quit.toml").write_text(QUIT_SCENARIO)
    run = smtpprobe(
        "run", str(tmp_path / "quit.toml"), "-s", "127.0.0.1", "-p", f"mx={lab_hardened.port}",
        "--helo", "client.example.org", "--format", "json",
    )
    result = json.loads(run.out)["results"][0]
    assert result["verdict"] == "pass"
    assert [e["kind"] for e in result["transcript"]].count("error") == 0, result["transcript"]
    assert [e["text"] for e in result["transcript"] if e["kind"] == "sent"] == ["EHLO client.example.org", "QUIT"]


def test_demo_next_step_needs_no_fixed_port():
    """The demo's next step must work where something already listens on 2525 (issue 15)."""
    run = smtpprobe("demo", timeout=180)
    assert run.code == 0, run.out + run.err
    last = run.out.splitlines()[-1]
    assert last.startswith("=== next: smtpprobe lab --port 0 ") and "$PORT" in last and "2525" not in last


def test_doctor_with_a_dns_server_that_never_answers_is_one_line_naming_resolver(dead_dns):
    """Not ten 'problems on the sender's side', each a timeout: one line, exit 3, what to check."""
    run = smtpprobe(
        "doctor", "--from", "a@example.org", "--ip", "192.0.2.1", "--helo", "mail.example.org",
        "--server", "127.0.0.1:1", "--resolver", dead_dns.address, "--dns-timeout", "1",
    )
    assert run.code == 3
    assert run.out == ""
    assert run.err_lines[-1] == (
        f"smtpprobe doctor: the DNS server {dead_dns.address} did not answer (the DNS query timed out (no answer), 1s): "
        "check --resolver IP[:PORT]"
    )
