"""The REPL on a terminal, with prompt_toolkit: line editing, history across runs, Tab completion.

What the server sends while you type (a 421, a close) shows at once: the background reader's lines are
queued, the prompt is ended with what was typed so far, the lines are printed, and the prompt comes back
with the same text. So output never runs through the line being edited, and none of it is lost or
reordered (prompt_toolkit's patch_stdout writes from a thread of its own and can do both when a prompt ends
just as a line arrives). readline was the other choice: it cannot print from another thread at all without
garbling the line.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application
from prompt_toolkit.application.current import get_app
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.layout.processors import (
    ConditionalProcessor,
    Processor,
    Transformation,
    TransformationInput,
)
from prompt_toolkit.validation import Validator

from smtpprobe.repl import interpret
from smtpprobe.repl.engine import Repl
from smtpprobe.repl.history import history_path


@dataclass(frozen=True)
class _Interrupted:
    """A prompt ended to let output through; `text` is what had been typed."""

    text: str


class _Completer(Completer):
    def get_completions(self, document, complete_event):
        text = document.text_before_cursor
        for candidate in interpret.completions(text):
            yield Completion(candidate, start_position=-len(text))


class _EraseSentLines(Validator):
    """Runs as a line is accepted: a line sent to the server comes back at once as its ` -> ` transcript
    line, so its prompt line is erased; a slash command's stays in view, unless it carries a secret
    (/raw AUTH PLAIN <base64>): that one's transcript line shows it redacted instead."""

    def __init__(self, repl_ref: list[Repl]):
        self._repl_ref = repl_ref

    def validate(self, document) -> None:
        text = document.text
        secret = bool(self._repl_ref) and self._repl_ref[0].state.is_secret(text)
        get_app().erase_when_done = secret or not (text.startswith("/") and not text.startswith("//"))


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
        self.prompt_session = PromptSession(
            history=self._history(),
            completer=_Completer(),
            complete_while_typing=False,
            validator=_EraseSentLines(self._repl),
            # An answer to an AUTH challenge (or typed before the challenge came) is not shown as typed.
            input_processors=[ConditionalProcessor(_Hidden(), Condition(self._secret_expected))],
        )
        self.line_session: PromptSession = PromptSession(history=InMemoryHistory())
        self.secret_session: PromptSession = PromptSession(
            history=InMemoryHistory(), input_processors=[_Hidden()]
        )
        self._lock = threading.Lock()  # guards the three below
        self._in_prompt = False
        self._pending: list[tuple[str, bool]] = []
        self._app: Application | None = None

    def _secret_expected(self) -> bool:
        state = self._repl[0].state if self._repl else None
        return state is not None and not state.in_data and (state.in_auth or state.auth_pending)

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

    # -- output, from any thread --------------------------------------------------------------------------
    def show(self, line: str, err: bool = False) -> None:
        with self._lock:
            if not self._in_prompt:
                _write(line, err)
                return
            self._pending.append((line, err))
            app = self._app
        if app is not None and app.is_running and app.loop is not None:
            try:
                app.loop.call_soon_threadsafe(self._interrupt, app)
            except RuntimeError:  # the loop closed: the prompt ended, and the main thread prints the queue
                pass

    def _interrupt(self, app: Application) -> None:
        """In the prompt's event loop: end it, keeping the typed text (the main thread reprompts)."""
        if app.is_running and not app.future.done():
            app.erase_when_done = True
            app.exit(result=_Interrupted(app.current_buffer.text))

    def _pre_run(self) -> None:
        with self._lock:
            self._app = get_app()
            waiting = bool(self._pending)
        if waiting:  # output came while the prompt was starting
            self._interrupt(get_app())

    def _prompt(self, session: PromptSession, message, erase: bool) -> str:
        """session.prompt, ended and restarted around output that arrives meanwhile."""
        text = ""
        while True:
            session.app.erase_when_done = erase
            with self._lock:
                self._in_prompt = True
            try:
                result = session.prompt(message, default=text, pre_run=self._pre_run)
            finally:
                with self._lock:
                    self._in_prompt, self._app = False, None
                    pending, self._pending = self._pending, []
                for line, err in pending:
                    _write(line, err)
            if not isinstance(result, _Interrupted):
                return result
            text = result.text

    # -- input ----------------------------------------------------------------------------------------------
    def ask(self, prompt: str) -> str | None:
        try:
            return self._prompt(self.line_session, prompt, erase=False)
        except EOFError:
            return None

    def ask_secret(self, prompt: str) -> str:
        return self._prompt(self.secret_session, prompt, erase=False)

    def run(self, repl: Repl, implicit_tls: bool) -> int:
        self._repl.append(repl)
        try:
            try:
                repl.open(implicit_tls)
            except KeyboardInterrupt:  # while waiting for the greeting: stop waiting, stay
                if not repl.connected:
                    raise
                self.show("=== stopped waiting (a late reply still shows when it comes)")
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
                # The prompt is a function: redrawn when the state changes (TLS on, connection closed).
                line = self._prompt(self.prompt_session, lambda: _prompt(repl), erase=True)
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            try:
                if not repl.handle(line):
                    return
            except KeyboardInterrupt:
                self.show("=== stopped waiting (a late reply still shows when it comes)")


def _write(line: str, err: bool) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(line + "\n")
    stream.flush()


def _prompt(repl: Repl) -> str:
    if not repl.connected:
        return "(closed)> "
    if repl.state.in_data:
        return "data> "
    if repl.state.in_auth:
        return "auth> "
    return "smtp~> " if repl.session.tls is not None else "smtp> "
