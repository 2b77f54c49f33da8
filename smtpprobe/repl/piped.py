"""The REPL with standard input not a terminal (a pipe, a heredoc, a CI job): the same lines and commands,
no prompt, each reply awaited before the next line, and the first error ends the run with its status."""

from __future__ import annotations

import io
import sys
from typing import TextIO

from smtpprobe.errors import UsageError
from smtpprobe.repl.engine import Finished, Repl

MAX_INPUT_LINE = 64 * 1024


class PipedConsole:
    piped = True

    def __init__(
        self, stream: io.BufferedIOBase | None = None, out: TextIO | None = None, err: TextIO | None = None
    ):
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.line_number = 0

    def show(self, line: str, err: bool = False) -> None:
        print(line, file=self.err if err else self.out, flush=True)

    def ask(self, prompt: str) -> str | None:
        raw = self.stream.readline(MAX_INPUT_LINE + 1)
        if not raw:
            return None
        self.line_number += 1
        if len(raw) > MAX_INPUT_LINE:
            raise UsageError(f"input line {self.line_number}: longer than {MAX_INPUT_LINE} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(
                f"input line {self.line_number}: not UTF-8 (send other bytes with /raw \\xNN)"
            ) from None
        text = text.removesuffix("\n")
        return text.removesuffix("\r")  # a script with CRLF line ends

    def ask_secret(self, prompt: str) -> str:
        raise UsageError("no terminal to ask for a password")

    def run(self, repl: Repl, implicit_tls: bool) -> int:
        try:
            repl.open(implicit_tls)
            while True:
                try:
                    line = self.ask("")
                except UsageError as exc:
                    repl.handle_error(exc)
                    continue
                if line is None or not repl.handle(line):
                    break
        except Finished as finished:
            return finished.status
        finally:
            repl.close()
        return repl.exit_status()
