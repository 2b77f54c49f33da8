"""What happened on a connection: timestamped events, rendered swaks-style or as JSON."""

from __future__ import annotations

import time
from collections.abc import Callable

from smtpprobe.display import safe

Kind = str  # "sent", "received", "info" or "error" (no typing.Literal: typing costs ~4 ms of a `send`)
REDACTED = "<redacted>"
_FIELDS = ("ms", "kind", "text", "tls", "refused", "secret")


class Event:
    """Immutable. Plain classes here, not dataclasses: `dataclasses` imports `inspect` (~6 ms of a `send`)."""

    __slots__ = _FIELDS
    ms: float  # milliseconds since the transcript started (the connect attempt)
    kind: Kind
    text: str
    tls: bool  # the bytes went inside TLS
    refused: bool  # a received 4xx/5xx reply (rendered `<**`)
    secret: str | None  # the unredacted text, kept apart so rendering can hide it

    def __init__(self, ms: float, kind: Kind, text: str, tls: bool = False, refused: bool = False,
                 secret: str | None = None):
        for name, value in zip(_FIELDS, (ms, kind, text, tls, refused, secret)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Event is immutable ({name})")

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in _FIELDS}

    def __eq__(self, other: object) -> bool:
        return other.__class__ is Event and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().values()))

    def __repr__(self) -> str:
        return "Event(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


class Transcript:
    def __init__(self, events: list[Event] | None = None, started: float | None = None,
                 listener: Callable[[Event], None] | None = None, hidden: list[str] | None = None):
        self.events: list[Event] = [] if events is None else events
        self.started = time.monotonic() if started is None else started
        self.listener = listener  # sees each event as it happens (live output)
        self.hidden: list[str] = [] if hidden is None else hidden  # secrets redacted wherever they appear (hide())

    def hide(self, secret: str) -> None:
        """Redact SECRET (a password a scenario step may put in any command, or a server echo back) from
        every event recorded from now on; --show-secrets still shows it."""
        if secret and secret not in self.hidden:
            self.hidden.append(secret)

    def redact(self, text: str) -> str:
        for secret in self.hidden:
            text = text.replace(secret, REDACTED)
        return text

    def now(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 1)

    def _add(self, kind: Kind, text: str, ms: float | None = None, **flags: object) -> None:
        ms = self.now() if ms is None else ms
        if self.hidden and (shown := self.redact(text)) != text:
            flags["secret"] = flags.get("secret") or text
            text = shown
        event = Event(ms, kind, text, **flags)  # type: ignore[arg-type]
        self.events.append(event)
        if self.listener is not None:
            self.listener(event)

    def sent(self, text: str, tls: bool = False, secret: str | None = None, ms: float | None = None) -> None:
        self._add("sent", text, ms=ms, tls=tls, secret=secret)

    def received(self, text: str, tls: bool = False, refused: bool = False) -> None:
        self._add("received", text, tls=tls, refused=refused)

    def info(self, text: str) -> None:
        self._add("info", text)

    def error(self, text: str) -> None:
        """Record an error once: layers that re-raise it (session, transaction, CLI) may each report it."""
        if not any(e.kind == "error" and e.text == text for e in self.events):
            self._add("error", text)

    def to_json(self, show_secrets: bool = False) -> list[dict]:
        out = []
        for event in self.events:
            item = event.to_dict()
            item["text"] = event.secret if (show_secrets and event.secret) else event.text
            del item["secret"]
            out.append(item)
        return out


_PREFIX = {
    ("sent", False): " ->",
    ("sent", True): " ~>",
    ("received", False): "<- ",
    ("received", True): "<~ ",
    ("info", False): "===",
    ("error", False): "***",
}
_COLOUR = {" ->": "cyan", " ~>": "cyan", "<**": "red", "<~*": "red", "***": "red", "===": "bright_black"}
_ANSI = {"cyan": 36, "red": 31, "bright_black": 90}  # what click.style(fg=...) writes, without importing click


def prefix(event: Event) -> str:
    if event.kind == "received" and event.refused:
        return "<~*" if event.tls else "<**"
    return _PREFIX[(event.kind, event.tls and event.kind in ("sent", "received"))]


class TextRenderer:
    """swaks-like lines: ` -> EHLO x`, `<-  250 OK`, `<** 550 ...`, `~` inside TLS, `===` info, `***` error."""

    def __init__(self, show_time: bool = False, colour: bool = False, show_secrets: bool = False):
        self.show_time, self.colour, self.show_secrets = show_time, colour, show_secrets
        self._last_sent: float | None = None

    def lines(self, event: Event) -> list[str]:
        mark = prefix(event)
        text = safe(event.secret if (self.show_secrets and event.secret) else event.text)
        out = []
        if self.show_time and event.kind == "received" and self._last_sent is not None:
            out.append(self._style(f"=== response in {(event.ms - self._last_sent) / 1000:.3f}s", "==="))
            self._last_sent = None
        if event.kind == "sent":
            self._last_sent = event.ms
        out.append(self._style(f"{mark} {text}", mark))
        return out

    def _style(self, line: str, mark: str) -> str:
        if not self.colour or mark not in _COLOUR:
            return line
        return f"\x1b[{_ANSI[_COLOUR[mark]]}m{line}\x1b[0m"


def render_text(transcript: Transcript, **options: bool) -> list[str]:
    renderer = TextRenderer(**options)
    return [line for event in transcript.events for line in renderer.lines(event)]
