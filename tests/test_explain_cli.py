"""`smtpprobe explain` from the command line: human output, --json, stdin, and bad input (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from smtpprobe.cli import main
from smtpprobe.exitcodes import Exit


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["explain", *args], input=stdin)


def test_basic_code() -> None:
    r = run("550")
    assert r.exit_code == Exit.OK
    assert r.output.startswith("550  (permanent failure")
    assert "mailbox unavailable" in r.output
    assert "Known texts with this code:" in r.output


def test_code_and_enhanced_as_two_words() -> None:
    r = run("550", "5.7.1")
    assert r.exit_code == 0
    assert "Enhanced  5.7.1: Permanent failure · Security or policy status" in r.output


def test_pasted_bounce() -> None:
    r = run(
        "host mx.example.com[1.2.3.4] said: 554 5.7.1 <x@y>: Relay access denied (in reply to RCPT TO command)"
    )
    assert r.exit_code == 0
    assert "Server    Postfix: Relay access denied" in r.output
    assert "$ smtpprobe run --only open-relay --server HOST" in r.output


def test_stdin_multiline() -> None:
    r = run(
        "-",
        stdin="550-5.7.26 This mail has been blocked because the sender is unauthenticated.\n"
        "550 5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.\n",
    )
    assert r.exit_code == 0
    assert "Gmail: Sender is unauthenticated" in r.output
    assert "Side      yours" in r.output


def test_non_standard_code() -> None:
    r = run("571", "Go", "away")
    assert r.exit_code == 0
    assert "non-standard code" in r.output.splitlines()[0]
    assert "Synology MailPlus" in r.output


def test_json_schema() -> None:
    r = run("--json", "550 4.7.1 <x@example.net>: Relay access denied")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert doc["schema"] == 1
    for key in (
        "input",
        "code",
        "enhanced",
        "text",
        "severity",
        "permanent",
        "transient",
        "standard",
        "basic",
        "enhanced_code",
        "side",
        "matches",
        "related",
        "causes",
        "checks",
        "commands",
        "notes",
    ):
        assert key in doc, key
    assert doc["code"] == 550 and doc["enhanced"] == "4.7.1"
    assert doc["severity"] == "permanent" and doc["permanent"] is True and doc["transient"] is False
    assert doc["basic"]["code"] == 550 and doc["basic"]["rfc"]
    assert doc["enhanced_code"]["class"] == "Persistent transient failure"
    assert doc["matches"][0]["id"] == "postfix-relay-denied"
    assert {
        "id",
        "server",
        "title",
        "meaning",
        "side",
        "causes",
        "checks",
        "commands",
        "scenarios",
        "notes",
        "source",
    } <= set(doc["matches"][0])
    assert any(n.startswith("Mismatch") for n in doc["notes"])


def test_json_enhanced_only() -> None:
    doc = json.loads(run("--json", "5.7.515").output)
    assert doc["code"] is None and doc["basic"] is None
    assert doc["enhanced_code"]["standard"] is False


@pytest.mark.parametrize("args", [["hello", "world"], ["999"], ["-"], ["not a code 12"]])
def test_unreadable_input_exits_2_with_one_line(args: list[str]) -> None:
    r = run(*args, stdin="" if args == ["-"] else None)
    assert r.exit_code == Exit.USAGE
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smtpprobe explain: ")
    assert "Traceback" not in r.stderr


def test_no_argument_is_a_usage_error() -> None:
    assert run().exit_code == Exit.USAGE


def test_subprocess_entry_point() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "smtpprobe", "explain", "--json", "503 5.5.1 Error: send HELO/EHLO first"],
        check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["matches"][0]["scenarios"] == ["missing-helo"]
    p = subprocess.run(
        [sys.executable, "-m", "smtpprobe", "explain", "garbage"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
