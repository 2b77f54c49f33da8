"""Postfix XCLIENT (https://www.postfix.org/XCLIENT_README.html): the command that makes the server treat the
session as coming from another client (address, name, HELO, login...), to test its restrictions.

The server advertises the attributes it accepts (`250-XCLIENT NAME ADDR PROTO HELO ...`); values are xtext,
`[UNAVAILABLE]`/`[TEMPUNAVAIL]` stay as they are, and an IPv6 ADDR carries the `IPV6:` prefix. Success is a
new 220 greeting, after which the client must say EHLO again.
"""

from __future__ import annotations

from smtpprobe.errors import UsageError
from smtpprobe.protocol import xtext

SPECIAL = ("[UNAVAILABLE]", "[TEMPUNAVAIL]")


def command(attributes: dict[str, str], advertised: str) -> str:
    """`XCLIENT ADDR=192.0.2.1 NAME=client.example`; refuses an attribute the server did not advertise."""
    offered = advertised.upper().split()
    parts = []
    for name, value in attributes.items():
        name = name.upper()
        if name not in offered:
            raise UsageError(
                f"the server's XCLIENT does not accept {name} (it accepts: {' '.join(offered) or 'nothing'})"
            )
        if name in ("ADDR", "DESTADDR") and ":" in value and not value.upper().startswith("IPV6:"):
            value = "IPV6:" + value
        parts.append(f"{name}={value if value in SPECIAL else xtext.encode(value)}")
    return "XCLIENT " + " ".join(parts)
