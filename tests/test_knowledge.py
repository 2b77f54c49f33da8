"""The knowledge data and its lookup: every entry explained, real pasted replies, odd codes, bad input."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from smtpprobe.errors import UsageError
from smtpprobe.knowledge import explain, explain_reply, short_note
from smtpprobe.knowledge.parse import parse
from smtpprobe.knowledge.store import (
    COMMANDS,
    SCENARIOS,
    KnowledgeError,
    _entry,
    load,
)

KB = load()
SEVERITY = {"2": "success", "3": "intermediate", "4": "transient", "5": "permanent"}


# ---------------------------------------------------------------- the data itself


def test_data_loads_with_expected_sizes() -> None:
    assert len(KB.basic) >= 30
    assert len(KB.enhanced) >= 75
    assert len(KB.entries) >= 80
    assert {"5.7.515", "4.7.650", "5.7.708"} <= set(KB.vendor)


def test_ids_are_unique() -> None:
    ids = [e.id for e in KB.entries]
    assert len(ids) == len(set(ids))


def test_known_scenario_ids_are_the_catalogues() -> None:
    from smtpprobe.scenario import catalogue_path, load_paths

    assert SCENARIOS == {s.base_id for s in load_paths([catalogue_path()])}


@pytest.mark.parametrize("entry", KB.entries, ids=lambda e: e.id)
def test_entry_is_well_formed(entry) -> None:
    for field in (entry.server, entry.title, entry.short, entry.meaning, entry.source):
        assert field.strip()
    assert entry.side in {"sender", "receiver", "either"}
    assert all(s in SCENARIOS for s in entry.scenarios)
    assert all(re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", e) for e in entry.enhanced)
    assert all(200 <= c <= 599 for c in entry.codes)
    for cmd in entry.advice.commands:
        assert cmd.split()[0] == "smtpprobe" and cmd.split()[1] in COMMANDS
    assert entry.examples


@pytest.mark.parametrize("entry", KB.entries, ids=lambda e: e.id)
def test_every_entry_example_is_explained_by_that_entry(entry) -> None:
    for example in entry.examples:
        exp = explain(example)
        assert entry.id in [m.id for m in exp.matches], example
        assert exp.code is not None
        assert exp.severity == SEVERITY[str(exp.code)[0]]
        if str(exp.code)[0] == "5":
            assert exp.permanent is True and exp.transient is False
        elif str(exp.code)[0] == "4":
            assert exp.permanent is False and exp.transient is True
        assert exp.causes or exp.checks or exp.commands or exp.matches[0].meaning
        assert exp.to_dict()["schema"] == 1


@pytest.mark.parametrize("code", sorted(KB.basic))
def test_every_basic_code(code: int) -> None:
    exp = explain(str(code))
    assert exp.code == code and exp.enhanced is None
    assert exp.standard is True
    assert exp.basic_meaning == KB.basic[code].meaning
    assert exp.severity == SEVERITY[str(code)[0]]
    assert not [n for n in exp.notes if "not a standard" in n]


@pytest.mark.parametrize("key", sorted(KB.enhanced))
def test_every_enhanced_code_in_both_failure_classes(key: str) -> None:
    for cls, severity in (("4", "transient"), ("5", "permanent")):
        code = key.replace("X", cls)
        exp = explain(code)
        assert exp.code is None and exp.enhanced == code
        assert exp.enhanced_standard is True
        assert exp.severity == severity
        assert exp.enhanced_detail == KB.enhanced[key].meaning
        assert exp.enhanced_class and exp.enhanced_subject


@pytest.mark.parametrize("key", sorted(KB.vendor))
def test_vendor_codes_are_flagged_non_registry(key: str) -> None:
    exp = explain(key)
    assert exp.enhanced_standard is False
    assert any("not in the IANA registry" in n for n in exp.notes)
    assert exp.enhanced_detail == KB.vendor[key].meaning


# ---------------------------------------------------------------- real replies

# Verbatim from shared/reference/conformance.md §4.1 and §4.6 ([lab] Postfix 3.7.11), and the seeds.
REAL = [
    ("503 5.5.1 Error: send HELO/EHLO first", "postfix-helo-required"),
    ("503 5.5.1 Error: need MAIL command", "postfix-need-mail"),
    (
        "554 5.7.1 <[192.0.2.1]>: Helo command rejected: IP-literal HELO not accepted here",
        "postfix-helo-ip-literal-policy",
    ),
    ("501 Syntax: HELO hostname", "postfix-syntax-helo"),
    ("504 5.5.2 <nodots>: Helo command rejected: need fully-qualified hostname", "postfix-helo-non-fqdn"),
    ("554 5.7.1 <victim@example.net>: Relay access denied", "postfix-relay-denied"),
    ("554 5.7.1 <victim%example.net@lab.test>: Relay access denied", "postfix-relay-denied"),
    ("554 5.7.1 <example.net!victim>: Relay access denied", "postfix-relay-denied"),
    ("454 4.7.1 <x@example.net>: Relay access denied", "postfix-relay-denied"),
    ("500 5.5.2 Error: command not recognized", "postfix-command-not-recognized"),
    ("552 5.3.4 Message size exceeds fixed limit", "postfix-size"),
    ("503 5.5.1 Error: authentication not enabled", "postfix-auth-not-enabled"),
    ("503 HELO or EHLO required", "exim-helo-required"),
    ("503 sender not yet given", "exim-sender-not-given"),
    ("501 Syntactically invalid HELO argument(s)", "exim-helo-syntax"),
    ("550 relay not permitted", "exim-relay-not-permitted"),
    ("554 SMTP synchronization error", "exim-sync"),
    ("421 Too many concurrent SMTP connections; please try again later.", "exim-too-many-connections"),
    ("503 5.5.1 Invalid command: Command not allowed at this point.", "opensmtpd-not-allowed"),
    ("501 5.5.1 Invalid command: HELO requires domain name", "opensmtpd-helo-requires-domain"),
    ("501 5.5.4 Invalid command arguments: Invalid domain name", "opensmtpd-invalid-domain"),
    ("550 Invalid recipient: <x@example.net>", "opensmtpd-invalid-recipient"),
    ("503 Error: send HELO first", "aiosmtpd-send-helo"),
    ("421 4.7.0 mx.lab.test Error: too many connections from 192.0.2.7", "postfix-too-many-connections"),
    ("450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]", "postfix-unknown-client"),
    (
        "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]",
        "postfix-unknown-reverse-client",
    ),
    ("554 5.5.0 Error: SMTP protocol synchronization", "postfix-sync"),
    ("530 5.7.0 Must issue a STARTTLS command first", "postfix-starttls-first"),
    # seeds
    ("550 5.5.1 Protocol error", "synology-protocol-error"),
    ("551 Go away", "synology-go-away"),
    ("571 Go away", "synology-go-away"),
    ("554 5.7.1 : Relay access denied", "postfix-relay-denied"),  # seeds/003, address lost in the page
    ("503 5.5.1 Incorrect command sequence", "icewarp-incorrect-sequence"),
    ("550 5.7.1 We do not relay", "icewarp-no-relay"),
    ("550 5.7.1 We do not relay, account limits apply", "icewarp-account-limits"),
]


@pytest.mark.parametrize(("reply", "entry_id"), REAL)
def test_real_reply_is_recognised(reply: str, entry_id: str) -> None:
    exp = explain(reply)
    assert exp.matches and exp.matches[0].id == entry_id, [m.id for m in exp.matches]


def test_we_do_not_relay_variants_do_not_overlap() -> None:
    assert [m.id for m in explain("550 5.7.1 We do not relay, account limits apply").matches] == [
        "icewarp-account-limits"
    ]


def test_postfix_bounce_line() -> None:
    exp = explain(
        "host mx.example.com[1.2.3.4] said: 554 5.7.1 <x@y>: Relay access denied (in reply to RCPT TO command)"
    )
    assert (exp.code, exp.enhanced) == (554, "5.7.1")
    assert exp.text.startswith("<x@y>: Relay access denied")
    assert exp.permanent is True and exp.side == "either"
    assert "smtpprobe run --only open-relay --server HOST" in exp.commands


def test_multiline_reply() -> None:
    exp = explain(
        "550-5.7.26 Unauthenticated email from example.com is not accepted due to\n"
        "550-5.7.26 domain's DMARC policy. Please visit\n"
        "550 5.7.26 https://support.google.com/mail/answer/81126#authentication for more information."
    )
    assert (exp.code, exp.enhanced) == (550, "5.7.26")
    assert "550" not in exp.text and "5.7.26" not in exp.text
    assert exp.matches[0].id == "gmail-dmarc-unauthenticated"
    assert exp.side == "sender"


def test_postfix_wrapped_gmail_bounce() -> None:
    exp = explain(
        "<erick@gmail.com>: host gmail-smtp-in.l.google.com[108.177.112.27] said: "
        "550-5.7.1 [74.208.41.59] The IP address sending this message does not have "
        "a PTR 550-5.7.1 record setup. As a policy, Gmail does not accept messages "
        "from IPs 550-5.7.1 with missing PTR records. Please visit 550-5.7.1 "
        "https://support.google.com/mail/answer/81126#authentication for more 550 "
        "5.7.1 information. p1si12051002jaj.114 - gsmtp (in reply to end of DATA command)"
    )
    assert (exp.code, exp.enhanced) == (550, "5.7.1")
    assert exp.matches[0].id == "gmail-ptr"


def test_exim_log_line() -> None:
    exp = explain(
        "2017-04-22 21:09:20 1d1viw-0000dF-5h ** x@gmail.com R=lookuphost T=remote_smtp "
        "H=gmail-smtp-in.l.google.com [74.125.204.26]: SMTP error from remote mail server after end of data: "
        "550-5.7.1 [61.14.232.40] The IP address sending this message does not have a PTR\\n550-5.7.1 record setup."
    )
    assert (exp.code, exp.enhanced) == (550, "5.7.1")


def test_dsn_fields() -> None:
    exp = explain("Action: failed\nStatus: 5.7.25\nDiagnostic-Code: smtp; 550-5.7.25 [2001:db8::1] The IP")
    assert (exp.code, exp.enhanced) == (550, "5.7.25")


def test_outlook_5_7_515() -> None:
    exp = explain(
        "550 5.7.515 Access denied, sending domain example.com does not meet the required authentication level."
    )
    assert exp.matches[0].id == "outlook-5.7.515"
    assert exp.enhanced_standard is False


# ---------------------------------------------------------------- odd codes


def test_571_is_non_standard_and_permanent() -> None:
    exp = explain("571")
    assert exp.standard is False and exp.permanent is True and exp.severity == "permanent"
    assert any("first digit" in n for n in exp.notes)
    assert any("second digit 7" in n for n in exp.notes)


def test_551_go_away_notes_the_misuse() -> None:
    exp = explain("551 Go away")
    assert exp.standard is True
    assert any("user not local" in n for n in exp.notes)


def test_unknown_text_with_unusual_code_is_noted() -> None:
    exp = explain("550 4.7.1 <x@example.net>: Relay access denied")
    assert any(n.startswith("Mismatch") for n in exp.notes)
    assert exp.severity == "permanent"


def test_class_mismatch_other_way() -> None:
    exp = explain("450 5.1.1 user unknown")
    assert exp.severity == "transient"
    assert any(n.startswith("Mismatch") for n in exp.notes)


def test_unregistered_enhanced_code() -> None:
    exp = explain("550 5.7.999 whatever")
    assert exp.enhanced_standard is False
    assert "Security or policy status" in exp.enhanced_meaning


def test_code_text_mismatch_is_noted() -> None:
    exp = explain("454 4.7.1 <x>: Relay access denied")
    assert not any("came with" in n for n in exp.notes)
    exp = explain("553 5.7.1 <x>: Relay access denied")
    assert any("here it came with 553" in n for n in exp.notes)


@pytest.mark.parametrize(
    "garbage", ["", "   ", "hello world", "12345", "192.0.2.1", "2024-05-01 12:00:01", "999", "600 nope"]
)
def test_garbage_raises_usage_error(garbage: str) -> None:
    with pytest.raises(UsageError):
        explain(garbage)


@pytest.mark.parametrize(
    ("raw", "code", "enhanced"),
    [
        ("550", 550, None),
        ("550 5.7.1", 550, "5.7.1"),
        ("5.7.26", None, "5.7.26"),
        ("550-5.7.1 x", 550, "5.7.1"),
        ("from 192.168.10.200 said: 421 try later", 421, None),
        ("said: 550 Unrouteable address", 550, None),
        ("Status: 4.4.7", None, "4.4.7"),
    ],
)
def test_parse(raw: str, code: int | None, enhanced: str | None) -> None:
    p = parse(raw)
    assert (p.code, p.enhanced) == (code, enhanced)


# ---------------------------------------------------------------- short notes and the reply API


def test_short_note() -> None:
    assert short_note(550) == "550 = permanent refusal: mailbox unavailable / policy"
    assert "relay access denied" in short_note(554, "5.7.1", "<x>: Relay access denied")
    assert short_note(571, None, "Go away").startswith("571 = ")
    assert short_note(599).startswith("599 = non-standard")
    assert "temporary failure" in short_note(421, "4.7.0", "")
    assert "class mismatch" in short_note(550, "4.7.1", "")
    for odd in ((0, None, ""), (999, "9.9.9", "x"), (250, "bad", "")):
        assert isinstance(short_note(*odd), str)


def test_explain_reply_api() -> None:
    exp = explain_reply(503, "5.5.1", "Error: send HELO/EHLO first")
    assert exp.matches[0].id == "postfix-helo-required"
    assert exp.matches[0].scenarios == ("missing-helo",)


# ---------------------------------------------------------------- validation catches bad data

GOOD = {
    "id": "x-test",
    "server": "X",
    "title": "t",
    "short": "s",
    "pattern": "Relay access denied",
    "meaning": "m",
    "side": "sender",
    "source": "test",
    "codes": [554],
    "examples": ["554 5.7.1 <a@b>: Relay access denied"],
    "commands": ["smtpprobe run --only open-relay --server HOST"],
}


def test_good_entry_passes() -> None:
    assert _entry(dict(GOOD), "t", "t.toml").id == "x-test"


@pytest.mark.parametrize(
    "change",
    [
        {"pattern": "(unclosed"},
        {"title": ""},
        {"side": "nobody"},
        {"scenarios": ["no-such-scenario"]},
        {"enhanced": ["5.7"]},
        {"codes": [999]},
        {"examples": []},
        {"examples": ["554 5.7.1 something else"]},
        {"examples": ["421 4.7.1 Relay access denied"]},
        {"commands": ["swaks --to x"]},
        {"commands": ["smtpprobe run --only nope --server HOST"]},
        {"unknown_field": 1},
        {"id": "Bad Id"},
    ],
)
def test_bad_entry_is_refused(change: dict) -> None:
    with pytest.raises(KnowledgeError):
        _entry({**GOOD, **change}, "t", "t.toml")


def test_import_is_lazy() -> None:
    code = (
        "import sys, smtpprobe.knowledge; "
        "assert 'tomllib' not in sys.modules, 'tomllib imported at import time'; "
        "smtpprobe.knowledge.explain('550'); assert 'tomllib' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
