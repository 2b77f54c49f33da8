"""The REPL on a terminal, with prompt_toolkit: line editing, history across runs, Tab completion, and
replies the server sends while you type printed above the prompt (patch_stdout), not through your line.

readline was the other choice: it cannot print from another thread without garbling the line being typed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
from prompt_toolkit.patch_stdout import patch_stdout

from smtpprobe.repl import interpret
from smtpprobe.repl.engine import Repl
from smtpprobe.repl.history import history_path


class _Completer(Completer):
    def get_completions(self, document, complete_event):
        text = document.text_before_cursor
        for candidate in interpret.completions(text):
            yield Completion(candidate, start_position=-len(text))


class _Hidden(Processor):
    """Shows nothing of what is typed, not even stars (a password prompt without echo). getpass would
    do the same but writes to the terminal directly, overtaking output still queued by patch_stdout."""

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        return Transformation([], source_to_display=lambda i: 0, display_to_source=lambda i: 0)


class _SecretFilteringHistory(FileHistory):
    """Never writes a line that answers an AUTH challenge (or carries an initial response) to disk."""

    def __init__(self, path: Path, repl_ref: list[Repl]):
        super().__init__(str(path))
        self._repl_ref = repl_ref

    def append_string(self, string: str) -> None:
        state = self._repl_ref[0].state if self._repl_ref else None
        if state is not None and (state.is_secret(string) or state.in_data):
            return
        super().append_string(string)


class TerminalConsole:
    piped = False

    def __init__(self) -> None:
        self._repl: list[Repl] = []
        self.history_note = ""
        self.prompt_session = PromptSession(history=self._history(), completer=_Completer(),
                                            complete_while_typing=False, erase_when_done=True)
        self.line_session: PromptSession = PromptSession(history=InMemoryHistory())
        self.secret_session: PromptSession = PromptSession(history=InMemoryHistory(), input_processors=[_Hidden()])

    def _history(self) -> History:
        path = history_path()
        if path is None:
            return InMemoryHistory()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.touch(mode=0o600, exist_ok=True)
        except OSError as exc:
            self.history_note = f"history not kept: {path}: {exc.strerror}"
            return InMemoryHistory()
        return _SecretFilteringHistory(path, self._repl)

    def show(self, line: str, err: bool = False) -> None:
        print(line, file=sys.stderr if err else sys.stdout, flush=True)

    def ask(self, prompt: str) -> str | None:
        try:
            return self.line_session.prompt(prompt)
        except EOFError:
            return None

    def ask_secret(self, prompt: str) -> str:
        return self.secret_session.prompt(prompt)

    def run(self, repl: Repl, implicit_tls: bool) -> int:
        self._repl.append(repl)
        with patch_stdout(raw=True):
            try:
                repl.open(implicit_tls)
                self.show("=== /help lists the commands; Tab completes; /quit or Ctrl-D leaves")
                if self.history_note:
                    self.show(f"=== {self.history_note}")
                self._loop(repl)
            finally:
                repl.close()
        return repl.exit_status()

    def _loop(self, repl: Repl) -> None:
        while True:
            try:
                line = self.prompt_session.prompt(_prompt(repl))
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            if line.startswith("/") and not line.startswith("//"):
                self.show(f"{_prompt(repl)}{line}")  # the prompt line is erased; keep the command in view
            try:
                if not repl.handle(line):
                    return
            except KeyboardInterrupt:
                self.show("=== stopped waiting (a late reply still shows when it comes)")


def _prompt(repl: Repl) -> str:
    if not repl.connected:
        return "(closed)> "
    if repl.state.in_data:
        return "data> "
    if repl.state.in_auth:
        return "auth> "
    return "smtp~> " if repl.session.tls is not None else "smtp> "
