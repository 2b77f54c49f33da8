"""The short note shown under each reply, and /explain.

Uses the reply-code knowledge (smtpprobe.knowledge) when it is there; otherwise a table keyed by the
first digit, so the REPL still says something useful about any reply.
"""

from __future__ import annotations

from smtpprobe.protocol.reply import Reply

_BY_CLASS = {
    2: "success",
    3: "go on: the server waits for more (the message text, or the next AUTH step)",
    4: "temporary failure: the same command may work later",
    5: "permanent failure: do not retry it unchanged",
}


def short_note(reply: Reply) -> str:
    try:
        from smtpprobe.knowledge import short_note as knowledge_note
    except ImportError:
        return fallback_note(reply.code)
    return knowledge_note(reply.code, reply.enhanced, reply.text)


def fallback_note(code: int) -> str:
    return f"{code} = {_BY_CLASS.get(code // 100, 'not a valid reply class')}"


def explain_lines(text: str) -> list[str]:
    """/explain CODE|TEXT. Raises UsageError when the text holds no reply code."""
    try:
        from smtpprobe.knowledge import explain, render_text
    except ImportError:
        return _fallback_explain(text)
    return render_text(explain(text)).rstrip("\n").splitlines()


def _fallback_explain(text: str) -> list[str]:
    import re

    from smtpprobe.errors import UsageError

    match = re.search(r"\b([2-5][0-9][0-9])\b", text)
    if not match:
        raise UsageError(f"/explain: no reply code in {text!r}")
    return [fallback_note(int(match.group(1)))]
