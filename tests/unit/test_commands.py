import pytest

from smtpprobe.errors import UsageError
from smtpprobe.protocol.commands import command, data_payload, mail_from, rcpt_to, unescape
from smtpprobe.protocol.ehlo import extensions
from smtpprobe.protocol.reader import ReplyReader
from smtpprobe.target import parse_server


def test_commands_are_crlf_terminated_and_refuse_embedded_line_breaks():
    assert command("EHLO", "client.example") == b"EHLO client.example\r\n"
    assert mail_from("") == b"MAIL FROM:<>\r\n"
    assert rcpt_to("a@b.c", "NOTIFY=NEVER") == b"RCPT TO:<a@b.c> NOTIFY=NEVER\r\n"
    with pytest.raises(UsageError, match="line break"):
        command("HELO", "x\r\nMAIL FROM:<a@b>")


def test_unescape_gives_the_raw_bytes_probes_need():
    assert unescape(r"NOOP\n") == b"NOOP\n"
    assert unescape(r"a\r.\r\x00\\") == b"a\r.\r\x00\\"


def test_data_payload_dot_stuffs_normalises_line_ends_and_terminates():
    assert data_payload(b"a\n.b\r\n..c\rd") == b"a\r\n..b\r\n...c\r\nd\r\n.\r\n"
    assert data_payload(b"") == b".\r\n"


def test_ehlo_extensions():
    reply = ReplyReader().feed(b"250-mx\r\n250-AUTH PLAIN LOGIN\r\n250-SIZE 1000\r\n250 starttls\r\n")[0]
    assert extensions(reply) == {"AUTH": "PLAIN LOGIN", "SIZE": "1000", "STARTTLS": ""}


@pytest.mark.parametrize(
    "text, expected",
    [("mx.example", ("mx.example", 25)), ("mx.example:2525", ("mx.example", 2525)),
     ("[::1]:587", ("::1", 587)), ("::1", ("::1", 25)), ("[::1]", ("::1", 25)), ("127.0.0.1:465", ("127.0.0.1", 465))],
)
def test_parse_server(text, expected):
    assert parse_server(text, 25) == expected


@pytest.mark.parametrize("text", ["host:0", "host:99999", "host:abc", "[::1", ""])
def test_parse_server_errors(text):
    with pytest.raises(UsageError):
        parse_server(text, 25)
