"""Gates: refusals that stand in front of the thing a scenario tests, recognised in one place (pure).

A relay probe refused with `530 Must issue a STARTTLS command first` has not shown that relaying is
refused: the server has not looked at the recipient yet. The runner asks `classify` about every reply a
scenario gets (unless the scenario's subject is the gate itself: `gates = false` in its file) and then
satisfies the gate where it can (STARTTLS, then the scenario again inside TLS; AUTH when credentials are
given) or ends the scenario as "not tested: gated by ..." — never as a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtpprobe.protocol.reply import Reply

_TLS = re.compile(r"starttls|\btls\b|encrypt|secure connection|ssl", re.IGNORECASE)
_AUTH = re.compile(r"auth", re.IGNORECASE)
_THROTTLE = re.compile(
    r"too many (errors|connections|commands|bad commands|failures|sessions)|too fast|rate limit|"
    r"try (again )?later|throttl|slow down",
    re.IGNORECASE,
)
_PIPELINING = re.compile(r"pipelin|synchroni[sz]ation", re.IGNORECASE)

STARTTLS, AUTH, THROTTLE, CONNECT, PIPELINING = "starttls", "auth", "throttling", "connect", "pipelining"
WHAT = {
    STARTTLS: "STARTTLS required",
    AUTH: "authentication required",
    THROTTLE: "throttling",
    CONNECT: "a refusal at connect",
    PIPELINING: "improper pipelining",
}

HOW = {STARTTLS: "inside TLS (after STARTTLS)", AUTH: "after AUTH with the given credentials"}


@dataclass
class Gate:
    kind: str  # one of the constants above
    reply: Reply | None  # the reply that showed it (quoted in the result)
    note: str = ""  # why it could not be satisfied, when it could not

    def describe(self) -> str:
        quoted = f" ({self.reply.wire_lines()[0]})" if self.reply is not None else ""
        return f"{WHAT[self.kind]}{quoted}" + (f"; {self.note}" if self.note else "")


def classify(reply: Reply, *, greeting: bool = False, pipelined: bool = False) -> str | None:
    """The gate a reply shows, or None when it may be the server's answer to the thing under test.

    530 is "authentication / encryption required" (RFC 3207 §4, RFC 4954 §6), never a refusal of a
    particular address or command; a 4xx about too many errors or connections is the server limiting the
    client (RFC 5321 §4.2.5 for 421), not judging what was sent; a greeting other than 220 refuses the
    client before anything is tested (RFC 5321 §3.1)."""
    if greeting:
        return CONNECT if reply.category in (4, 5) else None
    text = reply.text
    if reply.code == 538:  # RFC 4954 §6: encryption required for the requested authentication
        return STARTTLS
    if reply.code == 530 or (reply.code in (550, 553, 554) and reply.enhanced == "5.7.0"):
        if _TLS.search(text):
            return STARTTLS
        if _AUTH.search(text) or reply.code == 530:
            return AUTH
    if reply.category == 4 and _THROTTLE.search(text):  # a bare 421 (shutting down, line too long) answers
        return THROTTLE
    if pipelined and reply.category in (4, 5) and _PIPELINING.search(text):
        return PIPELINING
    return None
