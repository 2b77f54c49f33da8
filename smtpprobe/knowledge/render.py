"""The human form of an Explanation: a compact block, plain text (colour is the caller's business)."""

from __future__ import annotations

import textwrap

from smtpprobe.knowledge.lookup import Explanation

_SIDE = {
    "sender": "yours: something on the sending side to fix",
    "receiver": "theirs: the receiving server's policy or state",
    "either": "either side: see the causes",
}
_WIDTH = 100


def render_text(exp: Explanation, width: int = _WIDTH) -> str:
    out: list[str] = []
    head = " ".join(str(p) for p in (exp.code, exp.enhanced) if p)
    verdict = {
        "permanent": "permanent failure: do not retry unchanged",
        "transient": "temporary failure: the sender retries later",
        "success": "success",
        "intermediate": "intermediate: the server waits for more",
    }[exp.severity]
    out.append(f"{head}  ({verdict}{'' if exp.standard else '; non-standard code'})")
    if exp.text:
        out.append(_wrap("Text", exp.text, width))
    if exp.code is not None:
        rfc = f"  [{exp.basic_rfc}]" if exp.basic_rfc else ""
        out.append(_wrap("Code", f"{exp.code}: {exp.basic_meaning}{rfc}", width))
        if exp.digits:
            out.append(_wrap("", "; ".join(exp.digits), width))
    if exp.enhanced is not None:
        rfc = f"  [{exp.enhanced_rfc}]" if exp.enhanced_rfc else ""
        out.append(_wrap("Enhanced", f"{exp.enhanced}: {exp.enhanced_meaning}{rfc}", width))
    for m in exp.matches:
        out.append(_wrap("Server", f"{m.server}: {m.title}", width))
        out.append(_wrap("", m.meaning, width))
    if exp.side:
        out.append(_wrap("Side", _SIDE[exp.side], width))
    for title, items, bullet in (
        ("Causes", exp.causes, "- "),
        ("Check", exp.checks, "- "),
        ("Try", exp.commands, "$ "),
        ("Notes", exp.notes, "! "),
    ):
        if items:
            out.append(f"{title}:")
            out.extend(_bullet(bullet, item, width) for item in items)
    if exp.related:
        out.append("Known texts with this code:")
        out.extend(_bullet("  ", item, width) for item in exp.related[:8])
        if len(exp.related) > 8:
            out.append(f"    ... and {len(exp.related) - 8} more (see --json)")
    return "\n".join(out)


def _wrap(label: str, text: str, width: int) -> str:
    prefix = f"{label:<9} "
    return textwrap.fill(
        text, width, initial_indent=prefix, subsequent_indent=" " * 10, break_on_hyphens=False
    )


def _bullet(bullet: str, text: str, width: int) -> str:
    if bullet == "$ ":
        return f"  $ {text}"  # commands are never wrapped: they must copy-paste
    return textwrap.fill(
        text, width, initial_indent=f"  {bullet}", subsequent_indent="    ", break_on_hyphens=False
    )
