"""The message `send` puts after DATA: a default test message, or headers/body/attachments the user gave."""

from __future__ import annotations

from smtpprobe import __version__, validate
from smtpprobe.inputfile import DEFAULT_LIMIT, FileMessage, read_file, read_stdin

DEFAULT_BODY = "This is a test mailing from smtpprobe."


def build_message(
    sender: str,
    recipients: list[str],
    headers: list[str] = (),  # type: ignore[assignment]
    body: str | None = None,
    attachments: list[str] = (),  # type: ignore[assignment]
    helo: str = "localhost",
    limit: int = DEFAULT_LIMIT,
    cc: list[str] = (),  # type: ignore[assignment]
) -> bytes:
    """A test message to RECIPIENTS (the To header) and CC (a Cc header; Bcc recipients are in the envelope
    only, never in the message). Plain text is written by hand: the `email` package costs ~15 ms to import,
    which is a third of a whole transaction; it is loaded only for attachments or non-ASCII text."""
    fields = _default_headers(sender, recipients, helo, cc)
    for header in headers:
        name, value = validate.header(header)
        fields = [(n, v) for n, v in fields if n.lower() != name.lower()]  # a given header replaces the default
        fields.append((name, value))
    text = (body if body is not None else DEFAULT_BODY) + "\n"
    if attachments or not (text + "".join(v for _, v in fields)).isascii():
        utf8 = not (sender.isascii() and all(r.isascii() for r in [*recipients, *cc]))
        return _mime_message(fields, text, attachments, limit, utf8)
    lines = [f"{name}: {value}" for name, value in fields] + ["", *text.splitlines()]
    return "\r\n".join(lines).encode("ascii") + b"\r\n"


def _default_headers(sender: str, recipients: list[str], helo: str, cc: list[str]) -> list[tuple[str, str]]:
    import os
    import time

    date = time.strftime("%a, %d %b %Y %H:%M:%S %z")
    return [
        ("Date", date),
        ("To", ", ".join(recipients)),
        *([("Cc", ", ".join(cc))] if cc else []),
        ("From", sender or "<>"),
        ("Subject", f"test {date}"),
        ("Message-Id", f"<{time.strftime('%Y%m%d%H%M%S')}.{os.getpid()}.{time.monotonic_ns() % 10**6}@{helo}>"),
        ("X-Mailer", f"smtpprobe {__version__}"),
    ]


def _mime_message(fields: list[tuple[str, str]], text: str, attachments: list[str], limit: int = DEFAULT_LIMIT,
                  utf8: bool = False) -> bytes:
    """With a UTF-8 address the headers stay UTF-8 (RFC 6532: such mail goes only with SMTPUTF8 anyway); an
    encoded-word inside an address would be invalid (RFC 2047 §5)."""
    from email import policy
    from email.message import EmailMessage

    msg = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.default)
    for name, value in fields:
        msg[name] = value
    msg.set_content(text)
    from pathlib import Path

    for path in attachments:
        _attach(msg, Path(path), limit)
    for part in msg.iter_parts():  # email adds MIME-Version to each attached part; RFC 2045 §4 wants it once, on top
        del part["MIME-Version"]
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _attach(msg, path, limit: int) -> None:
    """Attach one file: a regular file within the size limit."""
    import mimetypes

    data = read_file(str(path), "--attach", limit, "--max-file-size")
    kind, _ = mimetypes.guess_type(path.name)
    maintype, subtype = (kind or "application/octet-stream").split("/", 1)
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)


def read_message_file(path: str, limit: int = DEFAULT_LIMIT) -> bytes | FileMessage:
    """A raw message for --data FILE ('-' for standard input, read now, bounded): a file is checked now
    and streamed from disk when DATA is reached, never held whole in memory."""
    if path == "-":
        return read_stdin("--data", limit, "--max-file-size")
    return FileMessage.checked(path, "--data", limit)
