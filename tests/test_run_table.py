"""`run`'s table for people (issue 15): it fits an 80-120 column terminal, long reasons wrap in their cell,
-v's sentences wrap and a probe's huge payload line is cut with its length said; JSON keeps everything."""

from __future__ import annotations

import json

import pytest

from smtpprobe.report import table
from smtpprobe.report.progress import RunProgress
from smtpprobe.scenario.target import Target
from smtpprobe.scenario.verdict import Result, Verdict
from tests.cli import smtpprobe

LONG = "RCPT TO:<relaytest%example.net@mx.lab.test>: expected a 5xx refusal of MAIL or RCPT, got 250 2.1.5 Ok " * 3


def _result(reason: str, verdict: Verdict = Verdict.FAIL, transcript: list | None = None) -> Result:
    return Result(
        "open-relay/percent-hack-name", "t", "submission", 45377, verdict, "Expected " + reason, reason,
        "rfc", "RFC 2505", transcript=transcript or [],
    )


@pytest.mark.parametrize("width", [None, 60, 80, 100, 120, 200])
def test_every_line_fits_and_nothing_is_lost(width):
    results = [_result(LONG), _result("", Verdict.PASS)]
    out = table.render(Target("127.0.0.1", {"submission": 45377}), results, 0.1, width=width, verbose=True)
    fits = table.fit_width(width)
    assert 80 <= fits <= 120
    assert max(len(line) for line in out.splitlines()) <= fits
    cells = " ".join(line[line.index("fail") + 4 :].strip() if "fail  " in line else line.strip()
                     for line in out.split("\n\n")[1].splitlines()[2:] if "pass" not in line)
    assert "".join(LONG.split()) in "".join(cells.split())  # wrapped, every character kept, in order


def test_a_huge_transcript_line_is_cut_and_says_how_long():
    payload = "X" * 4000
    result = _result("short", transcript=[{"ms": 0.0, "kind": "sent", "text": payload}])
    out = table.render(Target("127.0.0.1", {"submission": 45377}), [result], 0.1, width=100, verbose=True)
    line = next(line for line in out.splitlines() if "XXXX" in line)
    assert len(line) <= 100 and line.endswith("... (4,000 characters)")


def test_progress_is_drawn_on_a_terminal_after_a_second_and_erased():
    import io

    stream = io.StringIO()
    progress = RunProgress(3, stream, force=True, delay=0.0)
    for verdict in (Verdict.PASS, Verdict.FAIL):
        progress(_result("r", verdict))
    progress.clear()
    text = stream.getvalue()
    assert "\rrun: 2/3 results (1 fail, 1 pass)" in text and text.endswith("\r\x1b[K")
    quiet = io.StringIO()
    RunProgress(3, quiet)(_result("r"))  # not a terminal: nothing
    assert quiet.getvalue() == ""


def test_progress_on_a_real_terminal(lab_factory):
    """Through a pseudo-terminal, as a user sees it: the progress line, then the table. The lab waits 0.2 s
    before each greeting so the run lasts over a second."""
    import os
    import pty
    import subprocess
    import sys

    lab = lab_factory(greet_pause=0.2)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpprobe", "run", "-s", "127.0.0.1", "-p", f"mx={lab.port}", "-c", "1",
         "--local-rcpt", "postmaster@lab.test", "--helo", "client.example.org", "--only", "helo,sequence,relay"],
        stdin=follower, stdout=subprocess.PIPE, stderr=follower, env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(follower)
    out, _ = proc.communicate(timeout=120)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert b"\rrun: " in seen and b" results (" in seen
    assert seen.endswith(b"\r\x1b[K")  # erased before the table
    assert out.startswith(b"Target 127.0.0.1")


LONG_LINE_SCENARIO = """
[[scenario]]
id = "long-line-taken"
title = "A 4,000-character NOOP is taken (it is not: a non-pass with a long line in its transcript)"
basis = "rfc"
reference = "RFC 5321 §4.5.3.1.4"
why = "shows -v on a long line"
ports = ["mx"]

[[scenario.step]]
send = "EHLO {helo}"

[[scenario.step]]
send = "NOOP PAYLOAD"
expect = { class = "2xx", describe = "250" }
"""


def test_real_run_verbose_fits_in_100_columns(lab_open, tmp_path):
    (tmp_path / "long.toml").write_text(LONG_LINE_SCENARIO.replace("PAYLOAD", "x" * 4000))
    run = smtpprobe(
        "run", str(tmp_path / "long.toml"), "-s", "127.0.0.1", "-p", f"mx={lab_open.port}",
        "--local-rcpt", "postmaster@lab.test", "--helo", "client.example.org", "-v",
    )
    assert run.code == 1, run.out + run.err
    assert "characters)" in run.out  # the probe's 4,000-character line, cut
    assert max(len(line) for line in run.out.splitlines()) <= 100
    whole = smtpprobe(
        "run", "-s", "127.0.0.1", "-p", f"mx={lab_open.port}", "--local-rcpt", "postmaster@lab.test",
        "--helo", "client.example.org", "--format", "json", str(tmp_path / "long.toml"),
    )
    longest = max(len(e["text"]) for r in json.loads(whole.out)["results"] for e in r["transcript"])
    assert longest > 100  # the probes' long lines are there in JSON, whole


def test_the_finding_comes_in_a_sentence_before_the_numbers():
    target = Target("127.0.0.1", {"submission": 45377})
    failing = table.render(target, [_result("x"), _result("", Verdict.PASS)], 0.1).splitlines()
    assert failing[-2:] == [
        "The server failed on open-relay/percent-hack-name.",
        "2 results: 1 pass, 0 info, 0 skip, 0 warn, 0 error, 1 fail in 0.1s",
    ]
    passing = table.render(target, [_result("", Verdict.PASS)], 0.1).splitlines()
    assert passing[-2] == "Every check passed."
