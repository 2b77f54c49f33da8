"""The REPL's pure logic: what a typed line means, what the conversation state makes of it, exit status."""

import pytest

from smtpprobe.errors import UsageError
from smtpprobe.repl import interpret
from smtpprobe.repl.interpret import Send, Slash, State


def test_plain_lines_are_sent_as_typed():
    assert interpret.parse("MAIL FROM:<a@b.c> SIZE=10") == Send("MAIL FROM:<a@b.c> SIZE=10")
    assert interpret.parse("") == Send("")
    assert interpret.parse("//etc/passwd") == Send("/etc/passwd")  # a line that must start with '/'


def test_slash_commands_and_their_arguments():
    assert interpret.parse("/ehlo client.example") == Slash("ehlo", ("client.example",), "client.example")
    assert interpret.parse("/AUTH login me --plaintext-ok").args == ("login", "me", "--plaintext-ok")
    assert interpret.parse(r"/raw MAIL FROM:<a@b>\n") == Slash("raw", (), r"MAIL FROM:<a@b>\n")
    assert interpret.parse("/explain 550 5.7.1 Relay access denied").rest == "550 5.7.1 Relay access denied"
    assert interpret.auth_args(("plain", "me", "--plaintext-ok")) == ("PLAIN", "me", True)
    assert interpret.auth_args(("login",)) == ("LOGIN", None, False)


@pytest.mark.parametrize(
    "line, message",
    [
        ("/bogus", "unknown command /bogus"),
        ("/sta", "did you mean /starttls?"),
        ("/auth", "usage: /auth"),
        ("/auth gssapi me", "usage: /auth"),
        ("/save", "usage: /save FILE"),
        ("/starttls now", "/starttls takes no arguments"),
        ("/raw", "/raw needs TEXT"),
        ('/save "unclosed', "/save: No closing quotation"),
    ],
)
def test_bad_slash_commands_say_what_is_wrong(line, message):
    with pytest.raises(UsageError, match=message):
        interpret.parse(line)


def test_completion_of_verbs_and_commands():
    assert interpret.completions("ma") == ["MAIL FROM:<"]
    assert interpret.completions("/st") == ["/starttls"]
    assert interpret.completions("/auth p") == ["/auth plain"]
    assert set(interpret.completions("/")) == {f"/{name}" for name in interpret.SLASH}
    assert interpret.completions("EHLO") == []  # complete already


def test_message_lines_after_354_get_no_reply_until_the_dot():
    state = State()
    state.sent("DATA")
    state.replied(354)
    assert not state.expects_reply("Subject: x")
    assert not state.is_secret("AUTH PLAIN looks-like-a-secret-but-is-body")
    state.sent("Subject: x")
    assert state.expects_reply(".")
    state.sent(".")
    state.replied(250)
    assert not state.in_data and state.expects_reply("RSET")


def test_auth_answers_are_secrets_until_the_exchange_ends():
    state = State()
    assert state.is_secret("AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=")
    assert state.redacted("AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=") == "AUTH PLAIN <redacted>"
    assert not state.is_secret("AUTH LOGIN")
    state.sent("AUTH LOGIN")
    state.replied(334)
    assert state.is_secret("dXNlcg==") and state.redacted("dXNlcg==") == "<redacted>"
    state.sent("dXNlcg==")
    state.replied(334)
    assert state.is_secret("cGFzc3dvcmQ=")
    state.sent("cGFzc3dvcmQ=")
    state.replied(235)
    assert not state.is_secret("MAIL FROM:<a@b.c>")


def test_a_334_not_following_auth_is_not_an_auth_challenge():
    state = State()
    state.sent("NOOP")
    state.replied(334)
    assert not state.in_auth


def test_exit_status_mapping():
    assert interpret.status_of(250, dropped=False) == 0
    assert interpret.status_of(354, dropped=False) == 0
    assert interpret.status_of(451, dropped=False) == 1
    assert interpret.status_of(550, dropped=False) == 1
    assert interpret.status_of(250, dropped=True) == 3
    assert interpret.status_of(None, dropped=False) == 3


def test_help_lists_every_command():
    text = "\n".join(interpret.help_lines())
    for name in interpret.SLASH:
        assert f"/{name}" in text
