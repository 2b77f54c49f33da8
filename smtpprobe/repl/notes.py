"""The short note shown under each reply, and /explain: both from the reply-code knowledge."""

from __future__ import annotations

from smtpprobe.protocol.reply import Reply


def short_note(reply: Reply) -> str:
    from smtpprobe.knowledge import short_note as knowledge_note

    return knowledge_note(reply.code, reply.enhanced, reply.text)


def explain_lines(text: str) -> list[str]:
    """/explain CODE|TEXT. Raises UsageError when the text holds no reply code."""
    from smtpprobe.knowledge import explain, render_text

    return render_text(explain(text)).rstrip("\n").splitlines()
