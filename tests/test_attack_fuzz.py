"""Fuzzing with hypothesis: whatever a server replies, what reaches the terminal has no control character
and every report is well-formed; whatever a message file holds, what the server receives is that message
(line ends made CRLF), streamed. The socket cases run the real command against a real server."""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpprobe.display import safe
from smtpprobe.protocol.commands import data_payload, data_payload_stream
from smtpprobe.protocol.reader import ReplyReader
from smtpprobe.transcript import TextRenderer, Transcript
from tests.cli import smtpprobe

DANGEROUS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]")
# Reply text: any bytes but the line end (and NUL, which the reader refuses as malformed on purpose).
reply_text = st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"\x0d\x0d")
                                         .replace(b"\x00", b""))
unicode_text = st.text(max_size=200)


@given(unicode_text)
def test_safe_leaves_nothing_a_terminal_interprets(text):
    shown = safe(text)
    assert not DANGEROUS.search(shown)
    assert shown.isprintable()
    if text.isprintable():
        assert shown == text  # printable text is left alone


@given(st.lists(reply_text, min_size=1, max_size=5))
def test_any_reply_renders_clean_and_every_report_is_well_formed(lines):
    wire = b"".join(b"554-" + line + b"\r\n" for line in lines[:-1]) + b"554 " + lines[-1] + b"\r\n"
    [reply] = ReplyReader().feed(wire)
    transcript = Transcript()
    for line in reply.wire_lines():
        transcript.received(line, refused=True)
    rendered = [line for e in transcript.events for line in TextRenderer().lines(e)]
    assert not any(DANGEROUS.search(line) for line in rendered)
    json.loads(json.dumps(transcript.to_json(), ensure_ascii=False))  # JSON keeps it, valid
    from smtpprobe.doctor.markdown import code

    span = code(str(reply))
    fence = re.match("`+", span).group(0)
    assert span.endswith(fence) and fence not in span[len(fence):-len(fence)].replace(fence + "`", "")
    element = ET.Element("failure", message=safe(str(reply)))
    element.text = "\n".join(rendered)
    ET.fromstring(ET.tostring(element, encoding="unicode"))  # parses


@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_streamed_data_is_the_same_bytes_as_whole(message, cuts):
    cuts = sorted({c for c in cuts if c <= len(message)})
    chunks = [message[a:b] for a, b in zip([0, *cuts], [*cuts, len(message)], strict=True)]
    assert b"".join(data_payload_stream(chunks)) == data_payload(message)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(reply_text, min_size=1, max_size=3))
def test_send_against_a_fuzzed_refusal_on_a_real_socket(attack_server, lines):
    reply = b"\r\n".join(b"554-" + line for line in lines[:-1]) + (b"\r\n" if len(lines) > 1 else b"") + \
        b"554 " + lines[-1]
    server = attack_server(replies={"RCPT": reply})
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", "a@b.test", "--from", "me@c.test",
                    "--timeout", "5", timeout=30)
    assert run.code == 15, run.err
    assert not DANGEROUS.search(run.out + run.err.replace("\n", " "))
    assert "Traceback" not in run.err
    server.close()


message_lines = st.lists(st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                         min_size=1, max_size=20)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message_lines, st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_any_message_file_arrives_as_written(lab_hardened, tmp_path_factory, lines, newline):
    marker = uuid.uuid4().hex.encode()
    body = [marker, *lines]
    path = tmp_path_factory.mktemp("fuzz") / "message.eml"
    path.write_bytes(b"Subject: fuzz\n\n".replace(b"\n", newline) + newline.join(body) + newline)
    run = smtpprobe("send", "--server", f"127.0.0.1:{lab_hardened.port}", "--to", "postmaster@lab.test",
                    "--from", "me@client.example.org", "--helo", "client.example.org", "--data", str(path),
                    "--timeout", "10", timeout=30)
    assert run.code == 0, run.err
    [message] = [m for m in lab_hardened.messages if marker in m.data]
    assert message.data.endswith(b"\r\n".join(body) + b"\r\n")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # a TOML basic string (or invalid TOML: refused as such)


scalar = st.one_of(st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=40))
profile_values = st.fixed_dictionaries({}, optional={
    "timeout": scalar, "concurrency": scalar, "policy": scalar, "helo": scalar, "sender": scalar,
    "local_rcpt": scalar, "foreign_rcpt": scalar, "auth_user": scalar, "auth_password": scalar,
    # never a port that might be open: other test servers run on this machine
    "ports": st.dictionaries(st.sampled_from(["mx", "submission", "smtps", "x"]),
                             st.one_of(st.just(9), st.integers(-5, 0), st.integers(65536, 10**6), st.text(max_size=5)),
                             max_size=3),
})


@settings(max_examples=20, deadline=None)
@given(profile_values, st.text(max_size=30))
def test_any_target_profile_is_refused_in_one_line_or_run(tmp_path_factory, values, junk):
    path = tmp_path_factory.mktemp("profile") / "target.toml"
    body = "".join(f"{key} = {_toml_value(value)}\n" for key, value in values.items())
    path.write_text('server = "127.0.0.1:9"\n' + body + (f"# {junk}\n" if "\n" not in junk else junk))
    run = smtpprobe("run", "--target", str(path), "--only", "unknown-command", timeout=60)
    assert "Traceback" not in run.err and "internal error" not in run.err, run.err
    assert run.code in (2, 3), run.err  # refused (exit 2), or valid and nothing listens on port 9 (exit 3)
    assert run.seconds < 15


@given(st.text(max_size=300))
def test_any_server_text_is_a_host_or_one_clear_error(text):
    from smtpprobe.errors import UsageError
    from smtpprobe.target import parse_server

    try:
        host, port = parse_server(text, 25)
    except UsageError:
        return
    assert host.isprintable() and len(host) <= 253 or ":" in host
    assert 0 < port < 65536
