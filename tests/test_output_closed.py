"""`smtpprobe … | head -1`: when the reader of our output goes away, a command stops quietly with exit 141
(128 + SIGPIPE, what the shell reports for a program killed by the closed pipe), never an "internal error"
or a traceback. The transcript of `send` is written as the session goes, so once the reader has closed the
pipe after the first line, the next line's write meets the closed pipe for real."""

from __future__ import annotations

import subprocess
import sys

from smtpprobe.exitcodes import Exit


def test_send_cut_short_by_head_stops_quietly():
    """The server greets only once the reader has gone (no race with a fast transaction): the greeting's
    line is then written into the closed pipe."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    reader_gone = threading.Event()

    def greet_late() -> None:
        conn, _ = listener.accept()
        with conn:
            reader_gone.wait(30)
            conn.sendall(b"220 late.example ESMTP\r\n")
            conn.recv(1024)  # whatever comes (EHLO, or the close)

    server = threading.Thread(target=greet_late, daemon=True)
    server.start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpprobe", "send", "--server", f"127.0.0.1:{listener.getsockname()[1]}", "--to",
         "postmaster@lab.test", "--from", "me@example.org", "--helo", "client.example.org"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline().startswith("=== Trying 127.0.0.1:")
        proc.stdout.close()  # what `head -1` does after its line
        reader_gone.set()
        assert proc.wait(30) == Exit.OUTPUT_CLOSED == 141
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
        listener.close()


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
