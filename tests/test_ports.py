"""One spelling of --port across run, doctor, send, burst and repl (issue 15): ROLE=PORT, ROLE or PORT, comma
lists and repeated options alike; a repeat that cannot work is refused, never silently dropped."""

from __future__ import annotations

import json

import pytest

from smtpprobe.errors import UsageError
from smtpprobe.ports import parse_port_list, parse_ports, single_port
from tests.cli import smtpprobe


@pytest.mark.parametrize(
    "values, parsed",
    [
        (["mx=2525,submission=5870"], {"mx": 2525, "submission": 5870}),
        (["mx=2525", "submission=5870"], {"mx": 2525, "submission": 5870}),
        (["587"], {"submission": 587}),
        (["2525"], {"mx": 2525}),
        (["smtps"], {"smtps": 465}),
        (["SMTP=25", "submissions=4650"], {"mx": 25, "smtps": 4650}),
        (["mx=2525", "mx=2525"], {"mx": 2525}),
    ],
)
def test_one_spelling(values, parsed):
    assert parse_ports(values) == parsed


@pytest.mark.parametrize(
    "values, words",
    [
        (["mx=2525", "mx=2526"], "the mx role is given twice (2525 and 2526)"),
        (["pop3=110"], "'pop3' is not a port role"),
        (["mx=0"], "1 to 65535"),
        (["mx=2525,,smtps"], "empty item"),
    ],
)
def test_bad_or_conflicting_ports_are_refused(values, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_ports(values)


def test_doctor_may_test_one_role_on_several_ports():
    assert parse_port_list(["mx=2525", "25"]) == [("mx", 2525), ("mx", 25)]


def test_single_port_commands_refuse_a_second_port():
    assert single_port(("mx=2525",)) == 2525
    assert single_port(("submission",)) == 587
    assert single_port(()) is None
    with pytest.raises(UsageError, match="give it once"):
        single_port(("2525", "2526"))
    with pytest.raises(UsageError, match="in --server and 2526 in --port"):
        single_port(("2526",), 2525)


def test_run_takes_a_comma_list(lab_hardened):
    lab = lab_hardened
    run = smtpprobe(
        "run",
        "-s",
        "127.0.0.1",
        "-p",
        f"mx={lab.port},submission={lab.submission_port}",
        "--local-rcpt",
        "postmaster@lab.test",
        "--helo",
        "client.example.org",
        "--only",
        "empty-helo",
    )
    assert run.code == 0, run.out + run.err
    assert f"mx {lab.port}" in run.out and f"submission {lab.submission_port}" in run.out


def test_doctor_repeated_port_probes_every_port(lab_hardened, dns_server):
    lab = lab_hardened
    run = smtpprobe(
        "doctor",
        "--from",
        "me@example.org",
        "--ip",
        "127.0.0.1",
        "--helo",
        "client.example.org",
        "--server",
        "127.0.0.1",
        "--resolver",
        dns_server.address,
        "--dns-timeout",
        "1",
        "--port",
        f"mx={lab.port}",
        "--port",
        f"submission={lab.submission_port}",
        "--to",
        "postmaster@lab.test",
        timeout=120,
    )
    assert f"{lab.port} (mx)" in run.out and f"{lab.submission_port} (submission)" in run.out, (
        run.out + run.err
    )


@pytest.mark.parametrize("command", ["send", "burst"])
def test_send_and_burst_refuse_a_repeated_port(command):
    run = smtpprobe(
        command, "--server", "127.0.0.1", "--to", "a@lab.test", "--port", "2525", "--port", "2526"
    )
    assert run.code == 2
    assert run.err_lines == [
        "smtpprobe: --port given 2 times (2525, 2526); this command talks to one port: give it once"
    ]


def test_repl_takes_port_like_the_others(lab_hardened):
    run = smtpprobe("repl", "127.0.0.1", "--port", f"mx={lab_hardened.port}", "--no-notes", input="NOOP\n")
    assert run.code == 0, run.out + run.err
    assert "250 2.0.0 Ok" in run.out


# -- run against a target that cannot be reached (issue 15): one line and exit 3, not a row per scenario ----


def test_run_against_nothing_listening_is_one_line_and_exit_3():
    from tests.servers._common import free_port

    port = free_port()
    run = smtpprobe("run", "-s", f"127.0.0.1:{port}", "--helo", "client.example.org")
    assert run.code == 3
    assert run.out == ""
    assert run.err_lines == [
        (
            f"smtpprobe: cannot connect to 127.0.0.1:{port}: Connection refused; nothing was tested: nothing listens "
            "there: check --server and --port (`smtpprobe lab --port 0` prints the lab's ports)"
        )
    ]


def test_run_with_one_unreachable_role_tests_the_others_and_exits_3(lab_hardened):
    from tests.servers._common import free_port

    port = free_port()
    run = smtpprobe(
        "run",
        "-s",
        "127.0.0.1",
        "-p",
        f"mx={lab_hardened.port}",
        "-p",
        f"smtps={port}",
        "--local-rcpt",
        "postmaster@lab.test",
        "--helo",
        "client.example.org",
        "--only",
        "empty-helo",
    )
    assert run.code == 3, run.out + run.err
    assert run.err_lines == [
        f"smtpprobe: smtps {port}: cannot connect to 127.0.0.1:{port}: Connection refused; its scenarios are not run"
    ]
    rows = [line.split() for line in run.out.splitlines() if line.startswith("empty-helo")]
    assert rows == [["empty-helo", "mx", str(lab_hardened.port), "pass"]]
    assert run.out.splitlines()[-3] == (
        f"Every check that ran passed, but smtps {port} could not be reached (exit code 3)."
    )
    assert (
        run.out.splitlines()[-1]
        == f"Not tested: smtps {port}: cannot connect to 127.0.0.1:{port}: Connection refused"
    )
    as_json = smtpprobe(
        "run",
        "-s",
        "127.0.0.1",
        "-p",
        f"mx={lab_hardened.port}",
        "-p",
        f"smtps={port}",
        "--format",
        "json",
        "--local-rcpt",
        "postmaster@lab.test",
        "--helo",
        "client.example.org",
        "--only",
        "empty-helo",
    )
    doc = json.loads(as_json.out)
    assert doc["unreachable"] == {f"smtps {port}": f"cannot connect to 127.0.0.1:{port}: Connection refused"}
    assert doc["exit_code"] == as_json.code == 3


def test_run_refuses_two_ports_for_the_mx_role():
    run = smtpprobe("run", "-s", "127.0.0.1:2525", "-p", "mx=2526")
    assert run.code == 2
    assert run.err_lines == [
        "smtpprobe: the mx port is given twice: 2525 in --server and 2526 in --port; give it in one place"
    ]


@pytest.mark.parametrize("command", ["send", "burst"])
def test_send_and_burst_refuse_a_port_that_disagrees_with_server(command):
    run = smtpprobe(command, "--server", "127.0.0.1:2525", "--to", "a@lab.test", "--port", "2526")
    assert run.code == 2
    assert run.err_lines == [
        "smtpprobe: the port is given twice: 2525 in --server and 2526 in --port; give it in one place"
    ]
