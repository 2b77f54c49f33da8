"""Where received mail goes: never delivered; kept in memory (bounded) and/or one file per message."""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message: the envelope as the server saw it, and the bytes after DATA."""

    queue_id: str
    listener: str  # "mx", "submission" or "smtps"
    peer: tuple[str, int]
    helo: str | None
    mail_from: str  # "<>" for the null sender
    rcpt_tos: tuple[str, ...]
    data: bytes  # content as received, dot-stuffing removed, CRLF line ends
    tls: bool
    authenticated_as: str | None
    received_at: float = field(default_factory=time.time)


class MessageStore:
    """Thread-safe: the lab's loop thread adds, the caller's thread reads `messages`."""

    def __init__(
        self,
        keep: int = 1000,
        maildir: Path | None = None,
        on_message: Callable[[ReceivedMessage], None] | None = None,
    ):
        self.on_message = on_message
        self._messages: deque[ReceivedMessage] = deque(maxlen=keep or None)
        self._keep = keep
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.maildir = maildir

    def new_queue_id(self) -> str:
        # Postfix-like: short, unique within a run, no information about the message.
        return f"{next(self._counter):04X}{secrets.token_hex(3).upper()}"

    def add(self, message: ReceivedMessage) -> None:
        if self.maildir is not None:
            self._write(message)
        if self._keep:
            with self._lock:
                self._messages.append(message)
        if self.on_message is not None:
            try:
                self.on_message(message)
            except Exception:  # a watcher's bug must not turn an accepted message into a 500
                logging.getLogger(__name__).exception("on_message callback failed")

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def _write(self, message: ReceivedMessage) -> None:
        """`<maildir>/<time>.<queue id>.eml`, written under a temporary name then renamed, so a reader
        never sees half a message. Envelope goes into Return-Path/X-Lab-* headers on top."""
        assert self.maildir is not None
        self.maildir.mkdir(parents=True, exist_ok=True)
        name = f"{int(message.received_at)}.{message.queue_id}.eml"
        sender = "" if message.mail_from == "<>" else message.mail_from
        head = (
            f"Return-Path: <{sender}>\r\n"
            + "".join(f"X-Lab-Rcpt-To: <{rcpt}>\r\n" for rcpt in message.rcpt_tos)
            + f"X-Lab-Queue-Id: {message.queue_id}\r\n"
            + f"X-Lab-Listener: {message.listener}\r\n"
        ).encode("utf-8", "surrogateescape")
        tmp = self.maildir / f".{name}.tmp"
        tmp.write_bytes(head + message.data)
        os.replace(tmp, self.maildir / name)
