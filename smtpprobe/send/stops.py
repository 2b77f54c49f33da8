"""Where a transaction stops early, as asked: --quit-after ends with QUIT after a stage's reply, --drop-after
hangs up there instead, --drop-after-send hangs up right after the stage's command went out, its reply unread
(what a client that crashes or times out mid-command leaves the server with)."""

from __future__ import annotations


class QuitAfter(Exception):
    """The transaction ends here, as asked (not an error)."""


def stop(s, tx, stage: str) -> None:
    """--quit-after ends with QUIT, --drop-after hangs up. Before the greeting and while the server waits for
    the message text a QUIT means nothing (it would become part of the message), so those stops hang up too."""
    if tx.drop_after == stage or (tx.quit_after == stage and stage in ("connect", "proxy", "data")):
        s.close()
        s.transcript.info(f"hung up after {stage} without QUIT")
        raise QuitAfter
    if tx.quit_after == stage:
        raise QuitAfter
    if tx.drop_after_send == stage and stage in ("tls", "xclient", "auth"):  # not asked for, or not offered
        s.close()
        s.transcript.info(f"hung up after {stage} without QUIT (no command was sent at that stage)")
        raise QuitAfter


def after_sending(s, tx, stage: str, what: str) -> None:
    """--drop-after-send STAGE: hang up now that WHAT (the stage's command) is sent, before its reply."""
    if tx.drop_after_send == stage:
        s.close()
        s.transcript.info(f"hung up after sending {what} without reading its reply")
        raise QuitAfter


def hook(s, tx, stage: str | None, what: str):
    """after_sending as a callback for Session.command(sent=...), or None when this stage is not the one (or
    the command belongs to no stage of its own: the EHLO after STARTTLS or XCLIENT)."""
    return (lambda: after_sending(s, tx, stage, what)) if stage and tx.drop_after_send == stage else None
