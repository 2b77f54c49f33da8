"""Find the reply code, the enhanced status code and the reply text in whatever the user pasted.

Accepted: `550`, `550 5.7.1`, `5.7.26`, a reply line, a multi-line reply (`550-... / 550 ...`), a bounce or log
line that quotes a reply (`host mx[1.2.3.4] said: 554 5.7.1 <x@y>: Relay access denied (in reply to RCPT TO
command)`), a Postfix-wrapped multi-line reply (`550-5.7.1 text 550-5.7.1 more 550 5.7.1 end`), a DSN with
`Diagnostic-Code:` / `Status:` fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtpprobe.errors import UsageError

_ENH = r"([245])\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})"
# A three-digit token that is not part of an address, a date, a time or a longer number.
_CODE = r"(?<![\w.:\[/@=+-])(\d{3})"
_PAIR_RE = re.compile(_CODE + r"[ -]" + _ENH + r"(?![\w.]*\d)(?=[\s;:,)]|$)")
_LINE_CODE_RE = re.compile(r"^\s*(\d{3})(?:[ -]|$)", re.MULTILINE)
_TOKEN_CODE_RE = re.compile(_CODE + r"(?=[ -][^\d]|[ -]?$|;)")
_ENH_ALONE_RE = re.compile(r"(?<![\d.])" + _ENH + r"(?!\.?\d)")
_TOKEN_IS_BARE_CODE_RE = re.compile(r"^\s*(\d{3})\s*$")
# Phrases that introduce a quoted reply in bounces and logs ("said:", "SMTP error ...:").
_QUOTE_RE = re.compile(
    r"(?:said|said to|error|reply|response|responded|diagnostic-code|smtp;)\s*:?\s*(\d{3})\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Parsed:
    code: int | None
    enhanced: str | None
    text: str  # the reply text without the codes, continuation prefixes removed, whitespace collapsed
    raw: str


def parse(raw: str) -> Parsed:
    """Find the first reply code (and its enhanced code) in `raw`. Raises UsageError when there is none."""
    text = raw.strip()
    if not text:
        raise UsageError(
            "nothing to explain: give a reply code (550), an enhanced code (5.7.1) or a reply line"
        )
    bare = _TOKEN_IS_BARE_CODE_RE.match(text)
    if bare and not _plausible(bare.group(1)):
        raise UsageError(f"{bare.group(1)} is not an SMTP reply code: the first digit must be 2, 3, 4 or 5")

    code: int | None = None
    enhanced: str | None = None
    start = 0
    pair = next((m for m in _PAIR_RE.finditer(text) if _plausible(m.group(1))), None)
    if pair:
        code, enhanced = int(pair.group(1)), ".".join(pair.group(2, 3, 4))
        start = pair.end()
    else:
        found = _first_code(text)
        if found:
            code, start = int(found.group(1)), found.end()
            enh = _ENH_ALONE_RE.search(text, start) or _ENH_ALONE_RE.search(text)
            if enh:
                enhanced = ".".join(enh.group(1, 2, 3))
                if enh.start() >= start and not text[start : enh.start()].strip(" -"):
                    start = enh.end()
        else:
            enh = _ENH_ALONE_RE.search(text)
            if enh:
                enhanced, start = ".".join(enh.group(1, 2, 3)), enh.end()
    if code is None and enhanced is None:
        raise UsageError(
            "no SMTP reply code found: give a code (550), an enhanced code (5.7.26) or a whole reply line"
        )
    return Parsed(code=code, enhanced=enhanced, text=_reply_text(text, start, code, enhanced), raw=raw)


def _plausible(digits: str) -> bool:
    return digits[0] in "2345"


def _first_code(text: str) -> re.Match[str] | None:
    for regex in (_QUOTE_RE, _LINE_CODE_RE, _TOKEN_CODE_RE):
        for m in regex.finditer(text):
            if _plausible(m.group(1)):
                return m
    return None


def _reply_text(text: str, start: int, code: int | None, enhanced: str | None) -> str:
    rest = text[start:]
    if code is not None:
        # Continuation prefixes of a (possibly wrapped) multi-line reply: "550-5.7.1 ", "550 5.7.1 ", "550-".
        enh = re.escape(enhanced) + r"\s*" if enhanced else ""
        rest = re.sub(rf"(?<![\w.]){code}[ -]\s*(?:{enh})?", " ", rest)
    elif enhanced:
        rest = re.sub(rf"(?<![\w.]){re.escape(enhanced)}\b", " ", rest)
    return " ".join(rest.split()).strip(" -:;")
