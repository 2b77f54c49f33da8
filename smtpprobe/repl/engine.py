"""The REPL itself, apart from how lines come in: runs each typed line or slash command on the session,
shows every reply with a short note, and keeps what the exit status needs.

The front ends (terminal.py, piped.py) give it a Console: where output goes and how to ask the user for a
line or a password. Piped mode ends at the first error (a `Finished` with the status); the terminal shows
the error and carries on.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path
from typing import Protocol

from smtpprobe.display import safe
from smtpprobe.errors import (
    ConnectionClosed,
    ProtocolError,
    SmtpProbeError,
    TLSFailure,
    TransportError,
    UsageError,
)
from smtpprobe.exitcodes import Exit
from smtpprobe.protocol.commands import command, data_payload, unescape
from smtpprobe.protocol.ehlo import auth_mechanisms, extensions
from smtpprobe.protocol.reply import Reply
from smtpprobe.repl import interpret, notes
from smtpprobe.repl.connection import BackgroundReader, ReplSession
from smtpprobe.transcript import REDACTED, Event, TextRenderer, render_text

MAX_DATA_FILE = 50 * 1024 * 1024
PASSWORD_ENV = "SMTPPROBE_AUTH_PASSWORD"


class Console(Protocol):
    piped: bool

    def show(self, line: str, err: bool = False) -> None: ...

    def ask(self, prompt: str) -> str | None: ...  # one line from the user; None at end of input

    def ask_secret(self, prompt: str) -> str: ...


class Finished(Exception):
    """Piped mode stops here, with this exit status."""

    def __init__(self, status: int):
        self.status = status


class Repl:
    def __init__(
        self, session: ReplSession, console: Console, *, notes_on: bool = True, colour: bool = False
    ):
        self.session, self.console = session, console
        self.piped, self.notes_on, self.colour = console.piped, notes_on, colour
        self.lock = threading.RLock()
        self.state = interpret.State()
        self.last_code: int | None = None  # the last reply's code: the exit status
        self.dropped = False  # the connection went away without QUIT or a 421
        self.fatal: int | None = None  # an error that decides the exit status (TLS, protocol)
        renderer = TextRenderer(False, colour, False)
        session.transcript.listener = lambda event: self._show_event(renderer, event)
        self.reader = BackgroundReader(session, self.lock, self._got, self._reader_error)

    # -- life cycle ---------------------------------------------------------------------------------------
    def open(self, implicit_tls: bool = False) -> None:
        """Connect and show the greeting. Raises (exit 3 or 12) when there is no connection to work with."""
        from smtpprobe import hints

        mode = "implicit" if implicit_tls else "none"
        try:
            self.session.connect(implicit_tls=implicit_tls)
        except TLSFailure as exc:
            self.session.close()  # the handshake broke the connection: nothing to QUIT on
            self._hint(hints.tls_failure(str(exc), mode, starttls="/starttls"))
            raise
        except TransportError as exc:
            self._hint(hints.connect_failure(str(exc), where="HOST"))
            raise
        try:
            with self.lock:
                if self._await() is None and self.connected and self.last_code is None:
                    self._hint(hints.no_greeting(mode))
        except Finished:
            self._hint(hints.no_greeting(mode))
            raise
        finally:  # also after Ctrl-C: a late greeting still shows
            self.reader.start()

    def _hint(self, hint: str | None) -> None:
        if hint:
            self._note(f"hint: {hint}")

    def close(self) -> None:
        """QUIT politely if still connected; this last exchange leaves the exit status as it was."""
        self.reader.stop()
        code, dropped = self.last_code, self.dropped
        with self.lock:
            if self.connected:
                try:
                    if not self.state.quit_sent:  # the user's own QUIT got its 221: not a second one
                        self.state.sent("QUIT")
                        self.session.send(command("QUIT"))
                        if (reply := self.session.wait_reply(min(self.session.timeout, 3.0))) is not None:
                            self._got(reply)
                    self.session.wait_reply(1.0)  # the server closes after its 221
                except ConnectionClosed:
                    self.session.transcript.info("Connection closed with remote host.")
                except SmtpProbeError:
                    pass
        self.session.close()
        self.last_code, self.dropped = code, dropped

    def exit_status(self) -> int:
        if self.fatal is not None:
            return self.fatal
        return interpret.status_of(self.last_code, self.dropped)

    @property
    def connected(self) -> bool:
        return self.session.sock is not None

    # -- one line -----------------------------------------------------------------------------------------
    def handle(self, line: str) -> bool:
        """Run one typed line. False when the REPL should end (/quit)."""
        try:
            action = interpret.parse(line)
            if isinstance(action, interpret.Send):
                if action.line or self.state.in_data:
                    self._send_line(action.line)
                return True
            if action.name == "quit":
                return False
            getattr(self, f"_cmd_{action.name}")(action)
        except UsageError as exc:
            self._error(str(exc), Exit.USAGE)
        except TLSFailure as exc:
            self.fatal = int(Exit.TLS)
            self.session.close()
            self._error(str(exc), Exit.TLS)
        except TransportError as exc:
            if self.connected:  # a failed send: the connection is gone
                self.session.close()
                self.dropped = True
            self._error(str(exc), Exit.NETWORK)
        return True

    def handle_error(self, exc: UsageError) -> None:
        """Bad input outside a command (a line that is not UTF-8, say)."""
        self._error(str(exc), Exit.USAGE)

    def _send_line(self, line: str) -> Reply | None:
        secret = self.state.is_secret(line)
        with self.lock:
            self._require_connection()
            expects = self.state.expects_reply(line)
            self.session.send(
                command(line),
                shown=self.state.redacted(line) if secret else None,
                secret=line if secret else None,
            )
            self.state.sent(line)
            return self._await() if expects else None

    # -- slash commands -----------------------------------------------------------------------------------
    def _cmd_help(self, action: interpret.Slash) -> None:
        for text in interpret.help_lines():
            self.console.show(text)

    def _cmd_ehlo(self, action: interpret.Slash) -> None:
        from smtpprobe.identity import default_helo

        self._send_line(f"EHLO {action.args[0] if action.args else default_helo()}")

    def _cmd_rset(self, action: interpret.Slash) -> None:
        self._send_line("RSET")

    def _cmd_starttls(self, action: interpret.Slash) -> None:
        with self.lock:
            self._require_connection()
            if self.session.tls is not None:
                raise UsageError("TLS is already on")
            reply = self._send_line("STARTTLS")
            if reply is None or reply.code != 220 or not self.connected:
                return
            try:
                self.session.start_tls()
            except SmtpProbeError as exc:  # the connection is in an unknown state: give it up
                raise TLSFailure(str(exc)) from None
            self.state = interpret.State()
            self._note("the server forgets what it said before TLS: /ehlo again")

    def _cmd_auth(self, action: interpret.Slash) -> None:
        from smtpprobe.sasl import MAX_ROUNDS, MECHANISMS, ServerProofError, endless

        mech, user, plaintext_ok = interpret.auth_args(action.args)
        self._require_connection()
        if self.session.tls is None and not plaintext_ok:
            raise UsageError(
                "refusing to send a password over a plaintext connection: /starttls first "
                f"(or /auth {mech.lower()} USER --plaintext-ok)"
            )
        offered = auth_mechanisms(self.session.extensions)
        if self.session.extensions and not offered:  # asking for a password would be for nothing
            raise UsageError(
                "/auth: the server's EHLO reply offers no AUTH"
                + (" (a submission port offers it after /starttls and /ehlo)" if self.session.tls is None else "")
                + "; /raw AUTH ... sends it anyway"
            )
        if not self.session.extensions:
            self._note("no EHLO reply since connecting (or since TLS): the server may refuse AUTH")
        elif mech not in offered:
            self._note(
                f"the server did not offer AUTH {mech} (offers: {' '.join(offered) or 'none'}); trying"
            )
        user = user or self._ask("Username: ", "/auth needs USER in piped mode")
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if self.piped:
                raise UsageError(f"/auth: set {PASSWORD_ENV} for the password in piped mode")
            password = self.console.ask_secret("Password: ")
        steps = MECHANISMS[mech](user, password)
        initial = next(steps)
        with self.lock:
            line = f"AUTH {mech}" + (f" {initial}" if initial else "")
            reply = self._command(
                line, shown=f"AUTH {mech}" + (f" {REDACTED}" if initial else ""), secret=line
            )
            rounds = 0
            while reply is not None and reply.code == 334:
                if rounds == MAX_ROUNDS:
                    self.state.in_auth = False  # what is typed next is not an answer to a challenge
                    self._error(endless(rounds), Exit.AUTH)
                    return
                rounds += 1
                try:
                    response = steps.send(_challenge(reply))
                except StopIteration:
                    response = "*"  # nothing more to say: cancel (RFC 4954 §4)
                except ServerProofError as exc:  # SCRAM: the server does not know the password
                    self._note(f"the server's proof does not verify ({exc}): cancelling", mark="***")
                    response = "*"
                reply = self._command(response or "", shown=REDACTED if response else "", secret=response)

    def _cmd_data(self, action: interpret.Slash) -> None:
        message = _read_file(action.args[0]) if action.args else None
        with self.lock:
            reply = self._send_line("DATA")
            if reply is None or reply.code != 354 or not self.connected:
                return
        if message is None:  # typed (or piped) lines up to a lone "."; the lock is free meanwhile
            lines = []
            while (line := self.console.ask("data> ")) != ".":
                if line is None:
                    raise UsageError("/data: the input ended before the lone '.' that ends the message")
                lines.append(line)
            message = "".join(f"{line}\n" for line in lines).encode("utf-8")
        with self.lock:
            self._require_connection()
            self.session.send_message([data_payload(message)])
            self.state.sent(".")
            self._await()

    def _cmd_raw(self, action: interpret.Slash) -> None:
        data = unescape(action.rest)
        with self.lock:
            self._require_connection()
            if self.state.is_secret(action.rest):  # /raw AUTH PLAIN <base64>, or a raw answer to a 334
                self.session.send(data, shown=self.state.redacted(action.rest), secret=action.rest)
                self.state.sent(action.rest.split("\\r", 1)[0])
            else:
                self.session.send(data)
            if data.endswith(b"\n"):  # a line end (CRLF or bare LF): a reply may come
                self._await(required=False)

    def _cmd_explain(self, action: interpret.Slash) -> None:
        for text in notes.explain_lines(action.rest):
            self.console.show(text)

    def _cmd_save(self, action: interpret.Slash) -> None:
        path = Path(action.args[0]).expanduser()
        with self.lock:
            if path.suffix == ".json":
                import json

                text = json.dumps(self.session.transcript.to_json(), indent=2) + "\n"
            else:
                text = "".join(f"{line}\n" for line in render_text(self.session.transcript))
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"/save {path}: {exc.strerror}") from None
        self.console.show(f"=== transcript saved to {path} (AUTH secrets redacted)")

    # -- replies ------------------------------------------------------------------------------------------
    def _command(self, line: str, shown: str | None = None, secret: str | None = None) -> Reply | None:
        self._require_connection()
        self.session.send(command(line), shown=shown, secret=secret)
        self.state.sent(line)
        return self._await()

    def _await(self, required: bool = True) -> Reply | None:
        """The reply to what was just sent (lock held). None when none came or the connection is gone."""
        try:
            reply = self.session.wait_reply(self.session.timeout)
        except ConnectionClosed as exc:
            self._closed(exc, awaiting=True)
            return None
        except ProtocolError:  # already in the transcript; the stream cannot be trusted any more
            self.fatal = int(Exit.PROTOCOL)
            self.session.close()
            if self.piped:
                raise Finished(int(Exit.PROTOCOL)) from None
            return None
        except TransportError as exc:  # reset: already in the transcript
            self._closed(exc, awaiting=True, recorded=True)
            return None
        if reply is None:
            text = f"no reply within {self.session.timeout:g}s"
            if self.piped and required:
                self.session.transcript.error(text)
                raise Finished(int(Exit.NETWORK))
            self._note(f"{text} (it will show here when it comes)")
            return None
        self._got(reply)
        return reply

    def _got(self, reply: Reply) -> None:
        if self.state.last_verb in ("EHLO", "HELO", "LHLO") and reply.category == 2:  # LHLO: LMTP's EHLO
            self.session.extensions = extensions(reply) if self.state.last_verb != "HELO" else {}
        self.state.replied(reply.code)
        self.last_code = reply.code
        if self.notes_on:
            self._note(notes.short_note(reply), mark="   ^")

    def _reader_error(self, exc: SmtpProbeError) -> None:
        if isinstance(exc, ProtocolError):
            self.fatal = int(Exit.PROTOCOL)
            self.session.close()
        self._closed(exc, awaiting=False, recorded=not isinstance(exc, ConnectionClosed))

    def _closed(self, exc: SmtpProbeError, awaiting: bool, recorded: bool = False) -> None:
        self.session.close()
        if self.state.quit_sent:
            self.session.transcript.info("Connection closed with remote host.")
            return
        if not recorded:
            self.session.transcript.error(str(exc))
        if awaiting or self.last_code != 421:
            self.dropped = True
        if not self.piped:
            self._note("not connected any more: /save FILE keeps the transcript, /quit leaves")

    def _require_connection(self) -> None:
        if not self.connected:
            raise TransportError("not connected (the connection is closed)")

    # -- output -------------------------------------------------------------------------------------------
    def _show_event(self, renderer: TextRenderer, event: Event) -> None:
        for text in renderer.lines(event):
            self.console.show(text, err=event.kind == "error")

    def _note(self, text: str, mark: str = "===") -> None:
        line = f"{mark} {safe(text)}"
        if self.colour:
            import click

            line = click.style(line, fg="bright_black")
        self.console.show(line)

    def _error(self, text: str, status: int) -> None:
        events = self.session.transcript.events
        if not (events and events[-1].kind == "error" and events[-1].text == text):  # not shown already
            line = f"*** {safe(text)}"
            self.console.show(line if not self.colour else _red(line), err=True)
        if self.piped:
            raise Finished(self.fatal if self.fatal is not None else status)

    def _ask(self, prompt: str, piped_error: str) -> str:
        if self.piped:
            raise UsageError(piped_error)
        answer = self.console.ask(prompt)
        if not answer:
            raise UsageError("nothing entered")
        return answer


def _challenge(reply: Reply) -> bytes:
    try:
        return base64.b64decode(reply.lines[0].strip(), validate=True)
    except ValueError:
        return b""


def _read_file(name: str) -> bytes:
    from smtpprobe.inputfile import read_file

    return read_file(str(Path(name).expanduser()), "/data", MAX_DATA_FILE)


def _red(text: str) -> str:
    import click

    return click.style(text, fg="red")
