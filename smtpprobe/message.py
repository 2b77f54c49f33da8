"""The message `send` puts after DATA: a default test message, or headers/body/attachments the user gave."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from smtpprobe import __version__
from smtpprobe.errors import UsageError

DEFAULT_BODY = "This is a test mailing from smtpprobe."


def build_message(
    sender: str,
    recipients: list[str],
    headers: list[str] = (),  # type: ignore[assignment]
    body: str | None = None,
    attachments: list[str] = (),  # type: ignore[assignment]
    helo: str = "localhost",
) -> bytes:
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    msg = EmailMessage()
    msg["Date"] = formatdate(localtime=True)
    msg["To"] = ", ".join(recipients)
    msg["From"] = sender or "<>"
    msg["Subject"] = f"test {msg['Date']}"
    msg["Message-Id"] = make_msgid(domain=helo)
    msg["X-Mailer"] = f"smtpprobe {__version__}"
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise UsageError(f"--header {header!r}: expected 'Name: value'")
        del msg[name.strip()]  # a given header replaces the default one
        msg[name.strip()] = value.strip()
    msg.set_content((body if body is not None else DEFAULT_BODY) + "\n")
    for path in attachments:
        _attach(msg, Path(path))
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _attach(msg, path: Path) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--attach {path}: {exc.strerror}") from None
    kind, _ = mimetypes.guess_type(path.name)
    maintype, subtype = (kind or "application/octet-stream").split("/", 1)
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)


def read_message_file(path: str) -> bytes:
    """A raw message for --data FILE ('-' for standard input)."""
    import sys

    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--data {path}: {exc.strerror}") from None
