"""`audit DOMAIN...` and `audit --from-file FILE|-`: JSON Lines, one object per domain, flushed as each
finishes; a summary on stderr; progress only on a terminal. Against the real NSD of tests/servers/dns.py."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys

import pytest


def run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpprobe", "audit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_several_domains_json_lines_and_summary(dns_server):
    p = run(
        "good.test", "plusall.spf.test", "bad..name", "--resolver", dns_server.address, "--dnsbl", "bl.test"
    )
    assert p.returncode == 1, p.stderr
    by_domain = {o["domain"]: o for o in lines(p.stdout)}
    assert set(by_domain) == {"good.test", "plusall.spf.test", "bad..name"}
    assert by_domain["good.test"]["result"] == "pass" and by_domain["plusall.spf.test"]["result"] == "fail"
    assert (
        by_domain["bad..name"]["result"] == "invalid"
        and "not a valid domain" in by_domain["bad..name"]["error"]
    )
    assert "spf.all-pass" in {f["id"] for f in by_domain["plusall.spf.test"]["findings"]}
    (summary,) = p.stderr.strip().splitlines()
    assert "audited 3 domain(s)" in summary and "1 pass, 1 fail, 1 invalid" in summary
    assert "spf.all-pass 1" in summary


def test_from_stdin_many_domains_bounded_concurrency(dns_server):
    names = [f"n{i}.good.test" for i in range(40)] + ["# a comment", "", "good.test"]
    p = run(
        "--from-file",
        "-",
        "--concurrency",
        "8",
        "--resolver",
        dns_server.address,
        "--dnsbl",
        "bl.test",
        stdin="\n".join(names) + "\n",
    )
    out = lines(p.stdout)
    assert len(out) == 41 and len({o["domain"] for o in out}) == 41
    assert sum(o["result"] == "pass" for o in out) == 1  # good.test; the n*.good.test names do not exist
    assert "audited 41 domain(s)" in p.stderr and p.returncode == 1
    assert "\r" not in p.stderr  # not a terminal: no progress line


def test_each_line_is_written_when_its_domain_is_done(dns_server):
    """The first result arrives while the input is still open: streamed in, flushed out."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smtpprobe",
            "audit",
            "--from-file",
            "-",
            "--resolver",
            dns_server.address,
            "--dnsbl",
            "bl.test",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        proc.stdin.write("good.test\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no line before the input ended"
        assert json.loads(proc.stdout.readline())["domain"] == "good.test"
        proc.stdin.write("plusall.spf.test\n")
        proc.stdin.close()
        assert json.loads(proc.stdout.readline())["domain"] == "plusall.spf.test"
        assert proc.wait(30) == 1
    finally:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def test_progress_on_a_terminal_only(dns_server, tmp_path):
    master, slave = os.openpty()
    listing = tmp_path / "domains.txt"
    listing.write_text("good.test\nspf.test\ndkim.test\n")
    try:
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "smtpprobe",
                "audit",
                "--from-file",
                str(listing),
                "--resolver",
                dns_server.address,
                "--dnsbl",
                "bl.test",
            ],
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            timeout=60,
            check=False,
        )
        os.close(slave)
        err = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(master)
    text = err.decode()
    assert "audited (" in text and "\r" in text and "audited 3 domain(s)" in text
    assert len(lines(p.stdout)) == 3


@pytest.mark.parametrize(
    "args,needle",
    [
        (["a.test", "b.test", "--format", "table"], "JSON Lines"),
        (["a.test", "b.test", "--sender", "x@a.test"], "--sender"),
        (["a.test", "b.test", "--ip", "300.1.1.1"], "--ip"),
        (["a.test", "b.test", "--concurrency", "0"], "--concurrency"),
        ([], "DOMAIN"),
        (["--from-file", "/nonexistent/list"], "nonexistent"),
    ],
)
def test_bulk_bad_options_exit_2_one_line(args, needle):
    p = run(*args, "--resolver", "127.0.0.1:9")
    assert p.returncode == 2 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not p.stdout


def test_reader_closing_the_output_ends_quietly(dns_server, tmp_path):
    """`audit --from-file big | head -1`: no traceback, exit 141 (as if killed by SIGPIPE, so that pipefail does
    not take the cut-short list for a pass), the rest of the list not audited."""
    listing = tmp_path / "domains.txt"
    listing.write_text("".join(f"n{i}.good.test\n" for i in range(200)))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smtpprobe",
            "audit",
            "--from-file",
            str(listing),
            "--concurrency",
            "2",
            "--resolver",
            dns_server.address,
            "--dnsbl",
            "bl.test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert json.loads(proc.stdout.readline())["domain"].endswith(".good.test")
        proc.stdout.close()
        assert proc.wait(60) == 141
        err = proc.stderr.read().decode()
        assert "Traceback" not in err and "Error" not in err, err
    finally:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def test_workers_share_the_list_and_lose_nothing(dns_server):
    """--workers 3: every domain once, the same verdicts as one process, one summary, the exit code of the
    whole list; the children are real processes (each line carries the report of the domain it names)."""
    names = [f"n{i}.good.test" for i in range(30)] + ["good.test", "plusall.spf.test", "bad..name"]
    common = ["--from-file", "-", "--resolver", dns_server.address, "--dnsbl", "bl.test", "--concurrency", "6"]
    single = run(*common, stdin="\n".join(names) + "\n")
    shared = run(*common, "--workers", "3", stdin="\n".join(names) + "\n")
    assert shared.returncode == single.returncode == 1, shared.stderr
    verdicts = {o["domain"]: o["result"] for o in lines(shared.stdout)}
    assert len(lines(shared.stdout)) == len(names) and verdicts == {o["domain"]: o["result"]
                                                                     for o in lines(single.stdout)}
    assert verdicts["good.test"] == "pass" and verdicts["plusall.spf.test"] == "fail"
    (summary,) = shared.stderr.strip().splitlines()
    assert f"audited {len(names)} domain(s)" in summary and "1 pass, 31 fail, 1 invalid" in summary
    assert "spf.all-pass 1" in summary


def test_a_worker_that_dies_is_reported_with_what_it_did_not_audit(tmp_path):
    """A child killed mid-list: the parent says so on stderr, counts the domains it was given but never
    reported as invalid, exits 1, and writes every line the other child produced. The resolver is a closed
    port, so each domain takes --timeout and the children are still busy when one is killed."""
    import re
    import signal

    listing = tmp_path / "domains.txt"
    listing.write_text("".join(f"n{i}.good.test\n" for i in range(24)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpprobe", "audit", "--from-file", str(listing), "--workers", "2",
         "--resolver", "127.0.0.1:9", "--timeout", "1", "--concurrency", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()  # a report: both children have long been given their lines
        assert json.loads(first)["domain"].endswith(".good.test")
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as children:
            kids = children.read().split()
        assert len(kids) == 2
        os.kill(int(kids[0]), signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1
    found = re.search(r"worker \d ended with exit -9; (\d+) of its domains were not audited", err)
    assert found, err
    lost = int(found.group(1))
    assert lost > 0 and 1 + len(lines(out)) + lost == 24
    assert "audited 24 domain(s)" in err


def test_ctrl_c_with_workers_is_one_line_and_no_child_left(tmp_path):
    """Ctrl-C (SIGINT to the parent's process group, as a terminal sends it): one "interrupted" line, exit
    130, and the children are gone (they run in sessions of their own; the parent ends them)."""
    import signal

    listing = tmp_path / "domains.txt"
    listing.write_text("".join(f"n{i}.good.test\n" for i in range(40)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpprobe", "audit", "--from-file", str(listing), "--workers", "2",
         "--resolver", "127.0.0.1:9", "--timeout", "2", "--concurrency", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert proc.stdout.readline()  # running: both children have their lines
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as children:
            kids = [int(pid) for pid in children.read().split()]
        assert len(kids) == 2
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["smtpprobe audit: interrupted"]
    for pid in kids:  # gone (reaped by the parent before it exited)
        assert not os.path.exists(f"/proc/{pid}"), f"child {pid} still there"
