"""Expectations: matching a step's outcome, and saying in words what was expected and what came.

Pure: an Outcome is built by the runner from what the Session saw; nothing here touches a socket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from smtpprobe.protocol.reply import Reply
from smtpprobe.scenario.model import Expectation


@dataclass
class Outcome:
    """What one step got back."""

    replies: list[Reply] = field(default_factory=list)
    closed: bool = False  # the server closed the connection (after the replies, if any)
    timed_out: bool = False  # a reply did not come within the step's timeout
    failure: str | None = None  # another failure: TLS handshake, connection refused, reset
    extensions: dict[str, str] | None = None  # from an EHLO reply in this step
    missing: str | None = None  # what the server does not offer (STARTTLS, AUTH) when a step needs it
    waited: float = 0.0  # the timeout a silent step waited
    tls: bool = False  # TLS was up when the step ended
    note: str | None = None  # what a step without a reply of its own found (a burst: "all 20 accepted")
    enhanced_offered: bool = True  # ENHANCEDSTATUSCODES was offered: only then are enhanced codes expected
    earlier: dict[str, Reply | None] = field(default_factory=dict)  # replies of named steps (same_as)

    @property
    def reply(self) -> Reply | None:
        return self.replies[-1] if self.replies else None

    @property
    def terminal(self) -> bool:
        """The step ended the conversation or was refused: no setup step may continue after this."""
        reply = self.reply
        return (
            self.closed
            or self.timed_out
            or self.failure is not None
            or self.missing is not None
            or (reply is not None and reply.category in (4, 5))
        )

    @property
    def refused(self) -> bool:
        reply = self.reply
        return (reply is not None and reply.category in (4, 5)) or (reply is None and self.closed)


def matches(expect: Expectation, outcome: Outcome, reply: Reply | None = None) -> bool:
    reply = reply if reply is not None else outcome.reply
    if expect.any_of and not any(matches(e, outcome, reply) for e in expect.any_of):
        return False
    if expect.refused is not None:
        refused = (reply is not None and reply.category in (4, 5)) or (reply is None and outcome.closed)
        accepted = reply is not None and reply.category in (2, 3)
        if (expect.refused and not refused) or (not expect.refused and not accepted):
            return False
    if expect.closed is not None and outcome.closed != expect.closed:
        return False
    if expect.tls is not None and outcome.tls != expect.tls:
        return False
    if expect.silent is not None and (outcome.timed_out and not outcome.replies) != expect.silent:
        return False
    if expect.replies is not None and len(outcome.replies) != expect.replies:
        return False
    if expect.accepted_at_most is not None and count_accepted(outcome) > expect.accepted_at_most:
        return False
    if expect.same_as is not None:
        before = outcome.earlier.get(expect.same_as)
        if reply is None or before is None or reply.code != before.code:
            return False
    if expect.codes or expect.classes or expect.enhanced or expect.text:
        if reply is None:
            return False
        if expect.codes and reply.code not in expect.codes:
            return False
        if expect.classes and reply.category not in expect.classes:
            return False
        if (
            expect.enhanced
            and outcome.enhanced_offered  # RFC 2034 §3: enhanced codes only where ENHANCEDSTATUSCODES is offered
            and not any(_enhanced_match(p, reply.enhanced) for p in expect.enhanced)
        ):
            return False
        if expect.text and not expect.text.search(reply.text):
            return False
    if expect.advertises or expect.not_advertises:
        offered = outcome.extensions
        if offered is None:
            return False
        if any(k not in offered for k in expect.advertises) or any(
            k in offered for k in expect.not_advertises
        ):
            return False
    return True


def count_accepted(outcome: Outcome) -> int:
    return sum(1 for r in outcome.replies if r.category in (2, 3))


def _enhanced_match(pattern: str, enhanced: str | None) -> bool:
    if enhanced is None:
        return False
    want, got = pattern.split("."), enhanced.split(".")
    return all(w in ("*", "x", g) for w, g in zip(want, got, strict=True))


def describe(expect: Expectation) -> str:
    """'a 5xx reply', '503 or 530', 'a refusal (4xx/5xx, or the connection closed)', ..."""
    if expect.describe:
        return expect.describe
    head: list[str] = []
    if expect.codes:
        head.append(_or([str(c) for c in expect.codes]))
    elif expect.classes:
        head.append(f"a {_or([f'{c}xx' for c in expect.classes])} reply")
    if expect.refused is True:
        head.append("a refusal (4xx/5xx, or the connection closed)")
    elif expect.refused is False:
        head.append("acceptance (2xx/3xx)")
    if expect.silent:
        head.append("no reply")
    elif expect.silent is False:
        head.append("a reply")
    if expect.replies is not None:
        head.append(f"exactly {expect.replies} repl{'y' if expect.replies == 1 else 'ies'}")
    if expect.accepted_at_most is not None:
        head.append(
            f"at most {expect.accepted_at_most} acceptance{'' if expect.accepted_at_most == 1 else 's'}"
        )
    if expect.same_as is not None:
        head.append(f"the same reply code as step {expect.same_as!r}")
    if expect.advertises:
        head.append(f"an EHLO reply offering {', '.join(expect.advertises)}")
    if expect.any_of:
        head.append(_or([describe(e) for e in expect.any_of]))
    tail: list[str] = []  # each part brings its own link word
    if expect.not_advertises:
        tail.append(f"not offering {', '.join(expect.not_advertises)}")
    if expect.enhanced:
        tail.append(f"with enhanced code {_or(list(expect.enhanced))} (where ENHANCEDSTATUSCODES is offered)")
    if expect.text:
        tail.append(f"with text matching /{expect.text.pattern}/")
    if expect.tls:
        tail.append("with TLS established")
    elif expect.tls is False:
        tail.append("without TLS")
    if expect.closed:
        tail.append("then the connection closed" if head else "the connection closed")
    elif expect.closed is False:
        tail.append("with the connection kept open")
    if not head and tail and not tail[0].startswith("the connection"):
        head.append("a reply")
    return " ".join([" and ".join(head)] + [", ".join(tail)] if tail else [" and ".join(head)]).strip()


def describe_outcome(
    outcome: Outcome, reply: Reply | None = None, show_extensions: bool = False, show_count: bool = False
) -> str:
    """What came back, short: the reply's first line, or what happened instead. `show_count`: every
    reply of the step, counted (for `replies` expectations)."""
    reply = reply if reply is not None else outcome.reply
    parts = []
    if show_count and len(outcome.replies) != 1 and not outcome.missing:
        count = len(outcome.replies)
        shown = "; ".join(_clip(r.wire_lines()[0], 80) for r in outcome.replies[:5])
        parts.append(f"{count} repl{'y' if count == 1 else 'ies'}" + (f": {shown}" if shown else ""))
        reply = None  # already shown
    elif outcome.missing:
        parts.append(outcome.missing)
    elif reply is not None:
        lines = reply.wire_lines()
        shown = _clip(lines[0])
        if show_extensions and outcome.extensions is not None:
            offered = ", ".join(outcome.extensions) or "nothing"
            shown = f"{reply.code} offering {offered}"
        elif len(lines) > 1:
            shown += f" (+{len(lines) - 1} more line{'s' if len(lines) > 2 else ''})"
        parts.append(shown)
    if outcome.note:
        parts.append(outcome.note)
    if outcome.failure:
        parts.append(outcome.failure)
    elif outcome.timed_out and reply is None and not show_count:
        parts.append(f"no reply within {outcome.waited:g}s")
    if outcome.closed and not (
        outcome.failure and ("closed" in outcome.failure or "lost" in outcome.failure)
    ):
        parts.append(
            "the connection closed" if reply is not None else "the connection closed without a reply"
        )
    return ", then ".join(parts) if parts else "nothing"


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


ENHANCED_PATTERN = re.compile(r"[245]\.(\d{1,3}|[*x])\.(\d{1,3}|[*x])")
