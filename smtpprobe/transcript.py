"""What happened on a connection: timestamped events, rendered swaks-style or as JSON."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

from smtpprobe.display import safe

Kind = Literal["sent", "received", "info", "error"]
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Event:
    ms: float  # milliseconds since the transcript started (the connect attempt)
    kind: Kind
    text: str
    tls: bool = False  # the bytes went inside TLS
    refused: bool = False  # a received 4xx/5xx reply (rendered `<**`)
    secret: str | None = None  # the unredacted text, kept apart so rendering can hide it


@dataclass
class Transcript:
    events: list[Event] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    listener: Callable[[Event], None] | None = None  # sees each event as it happens (live output)
    hidden: list[str] = field(default_factory=list)  # secrets redacted wherever they appear (hide())

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
            item = asdict(event)
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
        import click

        return click.style(line, fg=_COLOUR[mark])


def render_text(transcript: Transcript, **options: bool) -> list[str]:
    renderer = TextRenderer(**options)
    return [line for event in transcript.events for line in renderer.lines(event)]
