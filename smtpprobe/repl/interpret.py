"""What a line typed at the REPL means, and what the conversation's state is: pure logic, no I/O.

A line is either a slash command (`/starttls`, `/auth plain me`, ...) or SMTP text to send as typed.
`State` follows the conversation just enough to know whether a sent line gets a reply (not the lines of a
message body after a 354) and whether it is a secret (the answers to AUTH's 334 challenges).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from smtpprobe.errors import UsageError
from smtpprobe.exitcodes import Exit
from smtpprobe.sasl import MECHANISMS as _SASL

MECHANISMS = tuple(name.lower() for name in _SASL)  # every mechanism `send --auth` has

# name -> (arguments, one-line help). The order is the order /help shows.
SLASH: dict[str, tuple[str, str]] = {
    "ehlo": ("[NAME]", "EHLO (default: this host's name); remembers the extensions for /auth"),
    "starttls": ("", "STARTTLS, then the TLS handshake in place; shows version, cipher, certificate"),
    "auth": (
        "plain|login|cram-md5|scram-sha-256|xoauth2|... [USER] [--plaintext-ok]",
        "AUTH, asking the password without echo; refused without TLS unless --plaintext-ok",
    ),
    "data": ("[FILE]", "DATA, then FILE or the lines you type up to a lone '.', dot-stuffed"),
    "rset": ("", "RSET"),
    "raw": ("TEXT", r"send TEXT with escapes \r \n \t \0 \\ \xNN and no CRLF added (bare-LF probes)"),
    "explain": ("CODE|TEXT", "what a reply code or a pasted bounce line means"),
    "save": ("FILE", "write the transcript so far to FILE (secrets redacted; .json for JSON)"),
    "help": ("", "this list"),
    "quit": ("", "QUIT and leave (also Ctrl-D)"),
}

VERBS = (
    "EHLO",
    "HELO",
    "MAIL FROM:<",
    "RCPT TO:<",
    "DATA",
    "RSET",
    "NOOP",
    "QUIT",
    "VRFY",
    "EXPN",
    "HELP",
    "STARTTLS",
    "AUTH",
    "BDAT",
    "ETRN",
)


@dataclass(frozen=True)
class Send:
    """SMTP text to send as typed, CRLF added."""

    line: str


@dataclass(frozen=True)
class Slash:
    name: str
    args: tuple[str, ...] = ()
    rest: str = ""  # the text after the command name, unsplit (for /raw and /explain)


Action = Send | Slash


def parse(line: str) -> Action:
    """A typed line -> what to do. `//text` sends `/text` (a line that must start with a slash)."""
    if line.startswith("//"):
        return Send(line[1:])
    if not line.startswith("/"):
        return Send(line)
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    if name not in SLASH:
        close = [n for n in SLASH if n.startswith(name)] if name else []
        hint = (
            f" (did you mean /{close[0]}?)" if len(close) == 1 else " (/help lists them; //text sends /text)"
        )
        raise UsageError(f"unknown command /{name}{hint}")
    if name in ("raw", "explain"):
        if not rest:
            raise UsageError(f"/{name} needs {SLASH[name][0]}")
        return Slash(name, (), rest)
    try:
        args = tuple(shlex.split(rest))
    except ValueError as exc:
        raise UsageError(f"/{name}: {exc}") from None
    _check(name, args)
    return Slash(name, args, rest)


def _check(name: str, args: tuple[str, ...]) -> None:
    if name == "auth":
        plain = [a for a in args if a != "--plaintext-ok"]
        if not plain or plain[0].lower() not in MECHANISMS or len(plain) > 2:
            raise UsageError(f"usage: /auth {SLASH['auth'][0]}")
    elif name == "save" and len(args) != 1:
        raise UsageError("usage: /save FILE")
    elif name in ("ehlo", "data") and len(args) > 1:
        raise UsageError(f"usage: /{name} {SLASH[name][0]}")
    elif name in ("starttls", "rset", "help", "quit") and args:
        raise UsageError(f"/{name} takes no arguments")


def auth_args(args: tuple[str, ...]) -> tuple[str, str | None, bool]:
    """('plain', 'me', '--plaintext-ok') -> ('PLAIN', 'me', True)."""
    plaintext_ok = "--plaintext-ok" in args
    rest = [a for a in args if a != "--plaintext-ok"]
    return rest[0].upper(), (rest[1] if len(rest) > 1 else None), plaintext_ok


def help_lines() -> list[str]:
    width = max(len(f"/{n} {a}".rstrip()) for n, (a, _) in SLASH.items() if len(a) < 20)
    out = ["Lines are sent as typed (CRLF added). Commands:"]
    for name, (args, text) in SLASH.items():
        usage = f"/{name} {args}".rstrip()
        out.append(
            f"  {usage:<{width}}  {text}" if len(usage) <= width else f"  {usage}\n  {'':<{width}}  {text}"
        )
    out.append("  //text sends a line starting with '/'. Tab completes; history is kept across runs.")
    return out


def completions(text: str) -> list[str]:
    """Candidates for the whole line typed so far (case-insensitive prefix match)."""
    upper = text.upper()
    if text.startswith("/auth "):
        word = text[len("/auth ") :]
        return [f"/auth {m}" for m in MECHANISMS if m.startswith(word.lower()) and " " not in word]
    if text.startswith("/"):
        return [f"/{n}" for n in SLASH if f"/{n}".startswith(text.lower())]
    return [v for v in VERBS if v.startswith(upper) and v != upper]


@dataclass
class State:
    """Just enough of the conversation to know what a line sent now means."""

    in_data: bool = False  # after a 354: lines are message text, no reply until the lone "."
    in_auth: bool = False  # after a 334: the next line answers an AUTH challenge (a secret)
    auth_pending: bool = False  # AUTH sent, its reply not yet in: a line typed now is an early answer
    quit_sent: bool = False
    last_verb: str = ""

    def expects_reply(self, line: str) -> bool:
        return not self.in_data or line == "."

    def is_secret(self, line: str) -> bool:
        """An AUTH answer (typed after a 334, or before it came), or an AUTH command carrying an initial
        response, typed or sent with /raw: redacted when shown, never written to the history."""
        if self.in_data:
            return False
        if line.startswith("/raw "):
            line = line[len("/raw ") :]
        elif line.startswith("/"):
            return False
        words = line.split()
        return self.in_auth or self.auth_pending or (len(words) >= 3 and words[0].upper() == "AUTH")

    def redacted(self, line: str) -> str:
        line = line.removeprefix("/raw ")
        words = line.split()
        if self.in_auth or self.auth_pending or len(words) < 3:
            return "<redacted>"
        return f"{words[0]} {words[1]} <redacted>"

    def sent(self, line: str) -> None:
        if self.in_data:
            if line == ".":
                self.in_data = False
            return
        verb = line.split(" ", 1)[0].upper()
        self.last_verb = verb
        if verb == "AUTH":
            self.auth_pending = True
        if verb == "QUIT":
            self.quit_sent = True

    def replied(self, code: int) -> None:
        self.in_data = code == 354
        self.in_auth = code == 334 and (self.last_verb == "AUTH" or self.in_auth or self.auth_pending)
        self.auth_pending = self.in_auth


def status_of(code: int | None, dropped: bool) -> int:
    """Exit status of a piped session from its last reply: 0 for 2xx/3xx, 1 for 4xx/5xx, 3 when the
    connection dropped before the reply came (or no reply ever came)."""
    if dropped or code is None:
        return int(Exit.NETWORK)
    return int(Exit.OK) if code // 100 in (2, 3) else int(Exit.FAILED)
