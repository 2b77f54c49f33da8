"""Postfix-style reply texts for the replies aiosmtpd writes itself.

aiosmtpd's own texts ("503 Error: need MAIL command", "250 OK") lack enhanced status codes
(RFC 3463). The lab advertises ENHANCEDSTATUSCODES, so every reply except the greeting, HELO/EHLO
and intermediate 334/354 replies carries one (RFC 2034 §3): known texts are rewritten to Postfix's
wording, anything else gets a class-level code (X.0.0; 5.5.x for syntax errors).
"""

from __future__ import annotations

import re

EXACT: dict[str, str] = {
    "250 OK": "250 2.0.0 Ok",
    "221 Bye": "221 2.0.0 Bye",
    "220 Ready to start TLS": "220 2.0.0 Ready to start TLS",
    "503 Error: need MAIL command": "503 5.5.1 Error: need MAIL command",
    "503 Error: need RCPT command": "503 5.5.1 Error: need RCPT command",
    "503 Error: nested MAIL command": "503 5.5.1 Error: nested MAIL command",
    "503 Already authenticated": "503 5.5.1 Error: already authenticated",
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
    "501 Syntax: HELO hostname": "501 Syntax: HELO hostname",  # RFC 2034 exempts HELO/EHLO replies
    "501 Syntax: EHLO hostname": "501 Syntax: EHLO hostname",
    "500 Error: bad syntax": "500 5.5.2 Error: bad syntax",
    "500 Command line too long": "500 5.5.2 Error: command too long",
    "554 Command refused due to lack of security": "554 5.7.0 Command refused due to lack of security",
    "552 Error: Too much mail data": "552 5.3.4 Message size exceeds fixed limit",
    "552 Error: message size exceeds fixed maximum message size": "552 5.3.4 Message size exceeds fixed limit",
    "252 Cannot VRFY user, but will accept message and attempt delivery": (
        "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery"
    ),
    "502 EXPN not implemented": "502 5.5.1 EXPN command is disabled",
}

PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r'500 Error: command "[^"]*" not recognized'), "500 5.5.2 Error: command not recognized"),
    (re.compile(r"500 Error: command '[^']*' not recognized"), "500 5.5.2 Error: command not recognized"),
]

_HAS_ENHANCED = re.compile(r"\d{3}[ -][245]\.\d{1,3}\.\d{1,3}( |$)")
_CODE = re.compile(r"(\d{3})([ -])(.*)", re.DOTALL)


def rewrite(line: str) -> str:
    """One reply line as the lab sends it."""
    if line in EXACT:
        return EXACT[line]
    for pattern, replacement in PATTERNS:
        if pattern.fullmatch(line):
            return replacement
    match = _CODE.fullmatch(line)
    if not match or _HAS_ENHANCED.match(line):
        return line
    code, sep, text = match.groups()
    if code[0] not in "45":
        return line  # 2xx/3xx texts that need a code are in EXACT; HELO/EHLO lines must stay bare
    detail = "5.4" if code in ("500", "501") else "0.0"
    return f"{code}{sep}{code[0]}.{detail} {text}"
