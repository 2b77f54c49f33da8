"""The reply reader fed bytes directly: no sockets."""

import pytest

from smtpprobe.errors import ProtocolError
from smtpprobe.protocol.reader import MAX_LINE, ReplyReader


def test_single_and_multiline_replies_with_enhanced_codes():
    reader = ReplyReader()
    replies = reader.feed(b"220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
    assert [r.code for r in replies] == [220, 250]
    assert replies[1].lines == ("mx.example", "PIPELINING", "STARTTLS")
    assert reader.feed(b"550 5.7.1 <a@b>: Relay access denied\r\n")[0].enhanced == "5.7.1"
    assert reader.feed(b"250 OK\r\n")[0].enhanced is None


def test_reply_split_across_reads_is_assembled():
    reader = ReplyReader()
    assert reader.feed(b"25") == []
    assert reader.feed(b"0-a\r") == []
    assert reader.feed(b"\n250 b\r\n")[0].lines == ("a", "b")


def test_bare_code_line_and_lf_only_endings_are_tolerated_and_noted():
    reply = ReplyReader().feed(b"250\n")[0]
    assert (reply.code, reply.lines, reply.lf_only) == (250, ("",), True)
    assert ReplyReader().feed(b"250 ok\r\n")[0].lf_only is False


@pytest.mark.parametrize(
    "data, message",
    [
        (b"hello there\r\n", "no three-digit code"),
        (b"25 short\r\n", "no three-digit code"),
        (b"2500 too long\r\n", "not followed by space or hyphen"),
        (b"\x00\xff\xfe\x01garbage\r\n", "no three-digit code"),
        (b"250-first\r\n251 second\r\n", "disagree on the code (250 then 251)"),
        (b"250 nul\x00inside\r\n", "NUL in reply text"),
    ],
)
def test_malformed_replies_raise_protocol_error_quoting_the_bytes(data, message):
    with pytest.raises(ProtocolError) as info:
        ReplyReader().feed(data)
    assert message in str(info.value)
    assert info.value.received  # what arrived is kept, and quoted in the message
    assert repr(data[:10])[2:-1][:5] in str(info.value)


def test_endless_line_is_refused_as_soon_as_the_bound_is_crossed():
    reader = ReplyReader()
    reader.feed(b"220 " + b"x" * (MAX_LINE - 10))
    with pytest.raises(ProtocolError, match="longer than 4096 bytes"):
        reader.feed(b"x" * 20)  # no line end yet: refused without waiting for one
    assert len(reader._buffer) <= MAX_LINE + 20


def test_endless_multiline_reply_is_refused_at_the_line_limit():
    reader = ReplyReader(max_lines=50)
    with pytest.raises(ProtocolError, match="longer than 50 lines"):
        for _ in range(1000):
            reader.feed(b"250-more\r\n")


def test_pipelined_replies_arrive_in_order():
    replies = ReplyReader().feed(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n")
    assert [r.code for r in replies] == [250, 250, 354]
    assert [r.enhanced for r in replies] == ["2.1.0", "2.1.5", None]
