"""`smtpprobe … | head -1`: when the reader of our output goes away, a command stops quietly with exit 141
(128 + SIGPIPE, what the shell reports for a program killed by the closed pipe), never an "internal error"
or a traceback. The transcript of `send` is written as the session goes, so once the reader has closed the
pipe after the first line, the next line's write meets the closed pipe for real."""

from __future__ import annotations

import subprocess
import sys

from smtpprobe.exitcodes import Exit


def test_send_cut_short_by_head_stops_quietly(lab_open):
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpprobe", "send", "--server", f"127.0.0.1:{lab_open.port}", "--to",
         "postmaster@lab.test", "--from", "me@example.org", "--helo", "client.example.org"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline().startswith("=== Trying 127.0.0.1:")
        proc.stdout.close()  # what `head -1` does after its line
        assert proc.wait(30) == Exit.OUTPUT_CLOSED == 141
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()


def test_a_socket_broken_pipe_is_not_taken_for_a_closed_output(capsys):
    """Only our own output's closed pipe is quiet: a BrokenPipeError from elsewhere (a socket) while stdout
    is fine is still reported as the bug it is."""
    import pytest

    from smtpprobe.cli.common import handle_errors, output_closed

    def fails() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    assert not output_closed()
    with pytest.raises(SystemExit) as ended:
        handle_errors(fails)()
    assert ended.value.code == Exit.FAILED
    assert "internal error: BrokenPipeError" in capsys.readouterr().err
