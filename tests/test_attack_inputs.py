"""Bad local input: files that are not files, files too large, values that would inject protocol syntax
or break a library. Each is one clear line and exit 2, within seconds and bounded memory (VmHWM of the
smtpprobe process); a large --data is streamed, never held whole."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe


def one_usage_line(run, *words: str) -> None:
    assert run.code == Exit.USAGE, run.out + run.err
    assert "Traceback" not in run.err and "internal error" not in run.err
    lines = run.err_lines
    assert len(lines) == 1, run.err
    for word in words:
        assert word in lines[0], lines[0]
    assert run.seconds < 5
    assert run.peak_rss_mb < 100


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)  # nobody ever writes: reading it would block for ever
    return path


def _send(server_port: int, *args: str, **kw):
    return smtpprobe("send", "--server", f"127.0.0.1:{server_port}", "--to", "a@b.test", "--from", "me@c.test",
                     "--timeout", "5", *args, timeout=30, **kw)


@pytest.mark.parametrize("option", ["--data", "--attach"])
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "directory"])
def test_send_refuses_what_is_not_a_regular_file(attack_server, tmp_path, fifo, option, kind):
    server = attack_server()
    path = {"fifo": str(fifo), "/dev/zero": "/dev/zero", "directory": str(tmp_path)}[kind]
    run = _send(server.port, option, path)
    word = {"fifo": "a FIFO", "/dev/zero": "a device", "directory": "is a directory"}[kind]
    one_usage_line(run, f"{option} {path}: {word}")
    assert server.connections == 0  # refused before connecting


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_audit_message_run_target_and_scenario_files_refuse_non_files(fifo, kind):
    path = str(fifo) if kind == "fifo" else "/dev/zero"
    one_usage_line(smtpprobe("audit", "example.test", "--message", path, timeout=30), f"--message {path}")
    one_usage_line(smtpprobe("run", "--target", path, timeout=30), f"--target {path}")
    run = smtpprobe("run", "--server", "127.0.0.1:9", path, timeout=30)
    assert run.code == Exit.USAGE and run.seconds < 5 and "Traceback" not in run.err, run.err
    assert f"{path}: not a regular file" in run.err


def test_size_limit_and_the_option_that_raises_it(attack_server, tmp_path):
    big = tmp_path / "big.eml"
    with big.open("wb") as f:
        f.truncate(51 * 2**20)  # sparse: 51 MiB of NUL without using the disk
    server = attack_server()
    one_usage_line(_send(server.port, "--data", str(big)), "51.0 MiB, more than the 50.0 MiB limit",
                   "--max-file-size")
    one_usage_line(_send(server.port, "--attach", str(big)), "--attach", "--max-file-size")
    run = _send(server.port, "--data", str(big), "--max-file-size", "60")
    assert run.code == 0, run.err
    assert server.data_bytes >= 51 * 2**20


def test_a_2gb_data_file_is_streamed_in_bounded_memory_and_json_stays_small(attack_server, tmp_path):
    big = tmp_path / "huge.eml"
    line = b"x" * 76 + b"\n"
    with big.open("wb") as f:  # real lines at the start (shown), a sparse tail (not stored on disk)
        f.write(b"Subject: big\n\n" + line * 2000)
        f.truncate(2 * 2**30)
    server = attack_server()
    run = _send(server.port, "--data", str(big), "--max-file-size", "4096", "--json")
    assert run.code == 0, run.err
    assert server.data_bytes >= 2 * 2**30
    assert run.peak_rss_mb < 100, f"RSS {run.peak_rss_mb:.0f} MB for a 2 GiB message"
    assert run.seconds < 60
    assert len(run.out) < 512 * 1024  # the transcript keeps the first 64 KiB of the message, not 2 GiB
    doc = json.loads(run.out)
    infos = [e["text"] for e in doc["transcript"] if e["kind"] == "info"]
    assert any(t.startswith(f"message data: {2 * 2**30 + 2002 + 3}") or "bytes sent, the first" in t for t in infos)


def test_json_does_not_multiply_a_large_message(attack_server, tmp_path):
    message = tmp_path / "m.eml"
    message.write_bytes(b"Subject: x\n\n" + (b"y" * 998 + b"\n") * 40_000)  # 40 MB of long lines
    server = attack_server()
    run = _send(server.port, "--data", str(message), "--json")
    assert run.code == 0, run.err
    assert len(run.out) < 512 * 1024
    assert run.peak_rss_mb < 100


@pytest.mark.parametrize("command", [
    ["send", "--server", "127.0.0.1:9", "--to", "a@b.test", "--timeout", "nan"],
    ["send", "--server", "127.0.0.1:9", "--to", "a@b.test", "--connect-timeout", "nan"],
    ["run", "--server", "127.0.0.1:9", "--timeout", "nan"],
    ["doctor", "--from", "a@b.test", "--ip", "127.0.0.1", "--helo", "x.test", "--server", "127.0.0.1",
     "--timeout", "nan"],
    ["doctor", "--from", "a@b.test", "--ip", "127.0.0.1", "--helo", "x.test", "--server", "127.0.0.1",
     "--dns-timeout", "inf"],
    ["audit", "example.test", "--timeout", "nan"],
    ["audit", "example.test", "--timeout", "1e308"],
    ["burst", "--server", "127.0.0.1:9", "--timeout", "nan"],
    ["burst", "--server", "127.0.0.1:9", "--rate", "nan"],
    ["burst", "--server", "127.0.0.1:9", "--hold", "inf"],
    ["repl", "127.0.0.1:9", "--timeout", "nan"],
], ids=lambda c: f"{c[0]}{c[-2]}={c[-1]}")
def test_numbers_must_be_finite_and_in_range(command):
    run = smtpprobe(*command, timeout=30)
    assert run.code == Exit.USAGE, run.err
    assert "Traceback" not in run.err and "internal error" not in run.err
    assert len(run.err_lines) == 1 and run.seconds < 5


@pytest.mark.parametrize("line, words", [
    ("timeout = inf", "not a finite number"),
    ("timeout = nan", "not a finite number"),
    ("timeout = 1e308", "out of range (0.1 to 600)"),
    ("timeout = 1000000", "out of range (0.1 to 600)"),
    ("concurrency = 100000", "from 1 to 32"),
    ("concurrency = 1.5", "from 1 to 32"),
])
def test_profile_numbers_are_bounded_like_the_options(tmp_path, line, words):
    profile = tmp_path / "target.toml"
    profile.write_text(f'server = "127.0.0.1:9"\n{line}\n')
    one_usage_line(smtpprobe("run", "--target", str(profile), timeout=30), words)


def test_deeply_nested_toml_is_refused(tmp_path):
    profile = tmp_path / "target.toml"
    profile.write_text("server = " + "[" * 100_000 + "]" * 100_000 + "\n")
    one_usage_line(smtpprobe("run", "--target", str(profile), timeout=30), "nested deeper than 32")
    scenario = tmp_path / "deep.toml"
    scenario.write_text("x = " + "{a = " * 50_000 + "1" + "}" * 50_000 + "\n")
    run = smtpprobe("run", "--server", "127.0.0.1:9", str(scenario), timeout=30)
    assert run.code == Exit.USAGE and "nested deeper than 32" in run.err and "Traceback" not in run.err, run.err
    assert run.seconds < 5


@pytest.mark.parametrize("command", [
    ["send", "--to", "a@b.test", "--server"],
    ["run", "--only", "unknown-command", "--server"],
    ["burst", "--server"],
    ["repl"],
], ids=lambda c: c[0])
def test_a_300_character_host_is_one_clear_line(command):
    run = smtpprobe(*command, "a" * 300, "--timeout", "2", timeout=30)
    assert run.code == Exit.USAGE, run.err
    assert "host name of 300 characters; at most 253" in run.err
    assert "Traceback" not in run.err and "internal error" not in run.err


def test_a_long_label_is_one_clear_line_too():
    run = smtpprobe("send", "--to", "a@b.test", "--server", "a" * 64 + ".test", "--timeout", "2", timeout=30)
    assert run.code == Exit.USAGE and "label of 64 characters; at most 63" in run.err, run.err


@pytest.mark.parametrize("option, value", [
    ("--to", "a@b.test> NOTIFY=SUCCESS"),
    ("--to", "a@b.test>\r\nRCPT TO:<c@d.test"),
    ("--from", "me@c.test> SMTPUTF8"),
    ("--from", "me@c.test BODY=8BITMIME"),
])
def test_addresses_that_would_inject_esmtp_syntax_are_refused(attack_server, option, value):
    server = attack_server()
    args = {"--to": "a@b.test", "--from": "me@c.test", option: value}
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", args["--to"], "--from", args["--from"],
                    "--timeout", "5", timeout=30)
    one_usage_line(run, option)
    assert server.connections == 0


def test_a_quoted_local_part_with_a_space_is_still_an_address(attack_server):
    server = attack_server()
    run = _send(server.port, "--to", '"john doe"@b.test', "--quit-after", "rcpt")
    assert run.code == 0, run.err
    assert b'RCPT TO:<"john doe"@b.test>' in server.lines


def test_header_with_a_line_break_or_a_bad_name_is_refused(attack_server):
    server = attack_server()
    one_usage_line(_send(server.port, "--header", "X-A: a\r\nBcc: evil@x.test"), "line break")
    one_usage_line(_send(server.port, "--header", "X-A: a\nBcc: evil@x.test"), "line break")
    one_usage_line(_send(server.port, "--header", "Sübject: x"), "printable US-ASCII")
    one_usage_line(_send(server.port, "--header", "X-Esc: \x1b]0;x\x07"), "control character")
    assert server.connections == 0


def test_a_non_ascii_header_value_is_encoded_and_delivered(lab_hardened):
    import uuid

    marker = uuid.uuid4().hex
    run = smtpprobe("send", "--server", f"127.0.0.1:{lab_hardened.port}", "--to", "postmaster@lab.test",
                    "--from", "me@c.test", "--helo", "client.example.org", "--header", f"Subject: héllo wörld {marker}",
                    "--timeout", "10", timeout=30)
    assert run.code == 0, run.err
    import email
    from email.header import decode_header, make_header

    [message] = [m for m in lab_hardened.messages if marker.encode() in m.data]
    assert b"=?utf-8?" in message.data  # RFC 2047 encoded, the header itself ASCII
    subject = str(make_header(decode_header(email.message_from_bytes(message.data)["Subject"])))
    assert subject == f"héllo wörld {marker}"


def test_a_redos_pattern_against_a_hostile_reply_is_linear(attack_server, tmp_path):
    scenario = tmp_path / "redos.toml"
    scenario.write_text('''
[[scenario]]
id = "redos"
title = "a catastrophic pattern"
basis = "rfc"
reference = "none"
why = "test"
ports = ["mx"]

[[scenario.step]]
send = "NOOP"
expect = { class = "2xx", text = "^(a+)+$" }
''')
    server = attack_server(replies={"NOOP": b"250 " + b"a" * 3000 + b"!"})
    run = smtpprobe("run", "--server", f"127.0.0.1:{server.port}", str(scenario), "--timeout", "5",
                    "--format", "json", timeout=60)
    assert run.seconds < 10, "the pattern backtracked"
    doc = json.loads(run.out)
    assert [r["verdict"] for r in doc["results"]] == ["fail"]
    assert run.peak_rss_mb < 100


def test_a_pattern_re2_cannot_run_in_linear_time_is_refused_at_load(tmp_path):
    scenario = tmp_path / "backref.toml"
    scenario.write_text('''
[[scenario]]
id = "backref"
title = "a backreference"
basis = "rfc"
reference = "none"
why = "test"
ports = ["mx"]

[[scenario.step]]
send = "NOOP"
expect = { class = "2xx", text = "(a)\\\\1" }
''')
    run = smtpprobe("run", "--server", "127.0.0.1:9", str(scenario), timeout=30)
    assert run.code == Exit.USAGE, run.err
    assert "bad regular expression" in run.err and "RE2" in run.err
    assert "re2.cc" not in run.err  # RE2's own log line stays quiet


@pytest.mark.parametrize("option", ["--to", "--from"])
def test_burst_addresses_that_would_inject_esmtp_syntax_are_refused(attack_server, option):
    server = attack_server()
    run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "-n", "2", "--stage", "rcpt", option,
                    "a@b.test> NOTIFY=SUCCESS", timeout=30)
    one_usage_line(run, option, "ESMTP parameters")
    assert server.connections == 0
