"""send's pure parts: the option table's two parsers agree, the PROXY/XCLIENT/xtext/BDAT builders, the automatic
ESMTP parameters, and the SASL messages whose format no real server here can check byte for byte."""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from smtpprobe.errors import UsageError
from smtpprobe.protocol import bdat, esmtp, proxy, xclient, xtext
from smtpprobe.send import options
from smtpprobe.send.options import fast_parse

# -- one table, two parsers -------------------------------------------------------------------------------


def _click_values(argv: list[str]) -> dict | None:
    """What click parses for `send ARGV` from the same table (None when it refuses)."""
    captured: dict = {}

    @click.command()
    @options.click_options
    def probe(**opts):
        captured.update(opts)

    result = CliRunner().invoke(probe, argv)
    return captured if result.exit_code == 0 else None


ARGVS = [
    ["--to", "a@b.c"],
    ["-t", "a@b.c", "-t", "d@e.f", "-s", "mx.example:2525", "-p", "26", "--from", ""],
    ["--to=a@b.c", "--server=127.0.0.1", "--tls", "--auth", "scram-sha-256", "-au", "me", "-ap", "pw"],
    [
        "--to",
        "a@b.c",
        "--tls-on-connect",
        "--tls-protocol",
        "tlsv1.2",
        "--tls-cipher",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ],
    [
        "--to",
        "a@b.c",
        "--lmtp",
        "--socket",
        "/run/lmtp",
        "--chunking",
        "--dsn-notify",
        "SUCCESS,FAILURE",
        "--dsn-ret",
        "hdrs",
        "--dsn-envid",
        "x",
        "--dsn-orcpt",
        "--mail-param",
        "X=1",
        "--rcpt-param",
        "Y",
    ],
    [
        "--to",
        "a@b.c",
        "--xclient-addr",
        "192.0.2.1",
        "--xclient-reverse-name",
        "r.example",
        "--proxy-version",
        "2",
        "--proxy-source",
        "192.0.2.2",
        "--proxy-source-port",
        "1234",
        "--drop-after",
        "RCPT",
        "--timeout",
        "2.5",
    ],
    ["--to", "a@b.c", "-4", "--json", "--show-time", "--header", "A: 1", "--header", "B: 2", "--body", "x"],
    ["-sexample.org", "--to", "a@b.c", "-q", "mail", "--pipeline", "--body-type", "8bitmime"],
    ["--to", "a@b.c", "--cc", "d@e.f", "--bcc", "g@h.i", "--bcc", "j@k.l", "--prdr", "--drop-after-send", "dot"],
    ["--to", "a@b.c", "--local-address", "127.0.0.1", "--local-port=2600"],
]


@pytest.mark.parametrize("argv", ARGVS)
def test_lean_parser_gives_what_click_gives(argv):
    assert fast_parse(argv) == _click_values(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],  # --to is required
        ["--to", "a@b.c", "--max-file-size", "0"],  # out of range
        ["--to", "a@b.c", "--timeout", "soon"],
        ["--to", "a@b.c", "--auth", "NTLM"],  # not a choice
        ["--to", "a@b.c", "--bogus"],
        ["--to", "a@b.c", "extra"],
        ["--to", "a@b.c", "--help"],
        ["--to"],
        ["--to", "a@b.c", "--tls=yes"],
        ["--to", "a@b.c", "--local-port", "0"],  # out of range
        ["--to", "a@b.c", "--drop-after-send", "banner"],  # nothing is sent at the banner
    ],
)
def test_lean_parser_leaves_the_hard_cases_to_click(argv):
    assert fast_parse(argv) is None


def test_password_from_the_environment_like_click(monkeypatch):
    monkeypatch.setenv("SMTPPROBE_AUTH_PASSWORD", "from-env")
    assert fast_parse(["--to", "a@b.c"])["auth_password"] == _click_values(["--to", "a@b.c"])["auth_password"]
    assert fast_parse(["--to", "a@b.c", "-ap", "given"])["auth_password"] == "given"


def _console(*args: str) -> subprocess.CompletedProcess:
    code = (
        "import sys; from smtpprobe.cli.launch import main; sys.argv = ['smtpprobe', *sys.argv[1:]]; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )


def test_lean_group_help_is_clicks():
    lean = _console("--help")
    code = "import sys; from smtpprobe.cli.group import main; sys.argv = ['smtpprobe', '--help']; main()"
    full = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert lean.returncode == full.returncode == 0
    assert lean.stdout == full.stdout


def test_bad_send_options_get_clicks_message():
    run = _console("send", "--to", "a@b.c", "--auth", "NTLM")
    assert run.returncode == 2
    assert "Invalid value for '--auth' / '-a': 'NTLM' is not one of" in run.stderr


# -- PROXY protocol (haproxy proxy-protocol.txt §2.1, §2.2) ------------------------------------------------------


def test_proxy_v1_line():
    assert (
        proxy.v1("192.0.2.1", 40000, "198.51.100.2", 25) == b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 25\r\n"
    )
    assert proxy.v1("2001:db8::1", 1, "[2001:db8::2]", 25) == b"PROXY TCP6 2001:db8::1 2001:db8::2 1 25\r\n"


def test_proxy_v2_header_layout():
    data = proxy.v2("192.0.2.1", 40000, "198.51.100.2", 25)
    assert data[:12] == b"\r\n\r\n\x00\r\nQUIT\n"
    assert data[12] == 0x21 and data[13] == 0x11  # version 2, PROXY; AF_INET, STREAM
    assert struct.unpack("!H", data[14:16])[0] == 12 == len(data) - 16
    assert data[16:] == bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack("!HH", 40000, 25)
    v6 = proxy.v2("2001:db8::1", 1, "2001:db8::2", 2)
    assert v6[13] == 0x21 and struct.unpack("!H", v6[14:16])[0] == 36


def test_proxy_refuses_mixed_families():
    with pytest.raises(UsageError, match="same address family"):
        proxy.v1("192.0.2.1", 1, "2001:db8::1", 25)


# -- XCLIENT and xtext ---------------------------------------------------------------------------------------


def test_xtext_encodes_plus_equals_and_non_printables():
    assert xtext.encode("a+b=c d") == "a+2Bb+3Dc+20d"
    assert xtext.encode("ü") == "+C3+BC"


def test_xclient_command():
    line = xclient.command(
        {"ADDR": "2001:db8::1", "NAME": "[UNAVAILABLE]", "HELO": "a b"}, "NAME ADDR PROTO HELO"
    )
    assert line == "XCLIENT ADDR=IPV6:2001:db8::1 NAME=[UNAVAILABLE] HELO=a+20b"
    with pytest.raises(UsageError, match="does not accept LOGIN"):
        xclient.command({"LOGIN": "me"}, "NAME ADDR")


# -- ESMTP parameters ----------------------------------------------------------------------------------------

EHLO = {"8BITMIME": "", "SMTPUTF8": "", "SIZE": "1000", "DSN": "", "CHUNKING": ""}


def test_plain_ascii_message_gets_only_size():
    params, notes = esmtp.mail_parameters(
        esmtp.Wanted(), EHLO, "a@b.c", ["d@e.f"], b"Subject: x\r\n\r\nhi\r\n", tls=False, size=20
    )
    assert (params, notes) == (["SIZE=20"], [])


def test_eight_bit_and_utf8_without_the_extensions_are_noted_not_sent():
    params, notes = esmtp.mail_parameters(
        esmtp.Wanted(), {}, "jürgen@b.c", ["d@e.f"], "x: ü\r\n\r\n".encode(), tls=False, size=9
    )
    assert params == []
    assert any("8BITMIME" in n for n in notes) and any("SMTPUTF8" in n for n in notes)


def test_size_over_the_limit_is_noted():
    _, notes = esmtp.mail_parameters(esmtp.Wanted(), EHLO, "a@b.c", ["d@e.f"], b"x", tls=False, size=5000)
    assert notes == ["the message (5000 bytes) is larger than the server's SIZE limit (1000)"]


def test_dsn_only_where_offered():
    wanted = esmtp.Wanted(dsn_notify="success,failure", dsn_orcpt=True, dsn_ret="FULL", dsn_envid="a b")
    params, _ = esmtp.mail_parameters(wanted, EHLO, "a@b.c", ["d@e.f"], None, tls=False)
    assert params == ["RET=FULL", "ENVID=a+20b"]
    assert esmtp.rcpt_parameters(wanted, EHLO, "d+x@e.f") == [
        "NOTIFY=SUCCESS,FAILURE",
        "ORCPT=rfc822;d+2Bx@e.f",
    ]
    assert esmtp.rcpt_parameters(wanted, {}, "d@e.f") == []
    assert esmtp.rcpt_notes(wanted, {}) != []


def test_requiretls_needs_tls_and_the_extension():
    wanted = esmtp.Wanted(requiretls=True)
    with pytest.raises(esmtp.Refusal, match="not TLS"):
        esmtp.mail_parameters(wanted, {"REQUIRETLS": ""}, "a@b.c", [], None, tls=False)
    with pytest.raises(esmtp.Refusal, match="does not offer"):
        esmtp.mail_parameters(wanted, {}, "a@b.c", [], None, tls=True)
    assert esmtp.mail_parameters(wanted, {"REQUIRETLS": ""}, "a@b.c", [], None, tls=True)[0] == ["REQUIRETLS"]


def test_no_auto_and_overrides():
    wanted = esmtp.Wanted(auto=False, body_type="BINARYMIME", mail_extra=["MT-PRIORITY=3"])
    params, _ = esmtp.mail_parameters(
        wanted, {**EHLO, "BINARYMIME": ""}, "jü@b.c", [], "ü".encode(), tls=False, size=2
    )
    assert params == ["BODY=BINARYMIME", "MT-PRIORITY=3"]


# -- BDAT --------------------------------------------------------------------------------------------------------


def test_bdat_chunks_count_octets_and_do_not_dot_stuff():
    chunks = bdat.chunks(b"a\n.b\n", size=4)
    assert chunks == [b"BDAT 4\r\na\r\n.", b"BDAT 3 LAST\r\nb\r\n"]
    assert bdat.chunks(b"") == [b"BDAT 0 LAST\r\n"]


# -- SASL messages -------------------------------------------------------------------------------------------


def test_cram_sha1_known_answer():
    # RFC 2202 §3 test case 2 (HMAC-SHA1, key "Jefe"): no server here implements CRAM-SHA1 to check against.
    from smtpprobe.sasl import cram_sha1

    steps = cram_sha1("user", "Jefe")
    assert next(steps) is None
    response = steps.send(b"what do ya want for nothing?")
    assert base64.b64decode(response) == b"user effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"


def test_xoauth2_and_oauthbearer_initial_responses():
    from smtpprobe.sasl import oauthbearer, xoauth2

    assert (
        base64.b64decode(next(xoauth2("me@example.org", "tok")))
        == b"user=me@example.org\x01auth=Bearer tok\x01\x01"
    )
    steps = oauthbearer("a,b=c", "tok")
    assert base64.b64decode(next(steps)) == b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01"  # RFC 7628 §3.1
    assert base64.b64decode(steps.send(b'{"status":"invalid_token"}')) == b"\x01"  # §3.2.3


def test_scram_refuses_a_server_without_the_password():
    from smtpprobe.sasl import ServerProofError, _scram

    steps = _scram("SCRAM-SHA-256")("user", "pencil")
    client_first = base64.b64decode(next(steps)).decode()
    nonce = client_first.split("r=", 1)[1]
    server_first = f"r={nonce}srv,s={base64.b64encode(b'salt-of-16-bytes').decode()},i=4096".encode()
    steps.send(server_first)
    with pytest.raises(ServerProofError):
        steps.send(b"v=" + base64.b64encode(b"x" * 32))  # a signature made without the password


def test_transcript_colours_are_clicks_without_click():
    from smtpprobe.transcript import _COLOUR, Event, TextRenderer, prefix

    renderer = TextRenderer(colour=True)
    for kind, refused in (("sent", False), ("received", True), ("info", False), ("error", False)):
        event = Event(1.0, kind, "text", refused=refused)
        mark = prefix(event)
        assert renderer.lines(event) == [click.style(f"{mark} text", fg=_COLOUR[mark])]


def test_bdat_stream_of_pieces_is_the_chunks_of_the_whole():
    """A --data file is sent with BDAT piece by piece: the chunks must be those of the whole message, whatever
    the cuts (a CR at the end of one piece and its LF at the start of the next included)."""
    message = b"a\r\nb\rc\n.d\r\n\r\nlast line"
    for size in (1, 3, 7, 1 << 20):
        whole = bdat.chunks(message, size)
        for cut in range(len(message) + 1):
            assert list(bdat.stream([message[:cut], b"", message[cut:]], size)) == whole
    assert list(bdat.stream([b"", b""])) == [b"BDAT 0 LAST\r\n"]
