"""The hardened MX's HELO and recipient policy as pure functions: a name or an address in,
None (accept) or the reply line out. Texts follow Postfix's (docs/lab.md lists them).

Unlike Postfix's default smtpd_delay_reject=yes, the lab rejects a bad HELO at HELO time, so a
client sees the verdict next to the command that caused it.
"""

from __future__ import annotations

import ipaddress
import re

from smtpprobe.lab.config import valid_hostname

# Domain characters a HELO may use at all (RFC 5321 §4.1.2: anything else is a 501).
_LDH = re.compile(r"[A-Za-z0-9.-]+")
_DOTTED_QUAD = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
RECIPIENT_LIMIT = 1000  # Postfix smtpd_recipient_limit; RFC 5321 §4.5.3.1.8 asks for at least 100


def helo_reply(name: str) -> str | None:
    """Why a HELO/EHLO argument is refused, or None. Blank names never get here (aiosmtpd: 501)."""
    if name.startswith("["):
        if not _valid_address_literal(name):
            return f"501 5.5.2 <{name}>: Helo command rejected: invalid ip address"
        return f"554 5.7.1 <{name}>: Helo command rejected: IP-literal HELO not accepted here"
    if not _LDH.fullmatch(name) or not valid_hostname(name) or _DOTTED_QUAD.fullmatch(name):
        # A bare dotted quad is not a host name (its "TLD" is numeric) and not a literal either.
        return f"501 5.5.2 <{name}>: Helo command rejected: Invalid name"
    if "." not in name:
        return f"504 5.5.2 <{name}>: Helo command rejected: need fully-qualified hostname"
    return None


def _valid_address_literal(literal: str) -> bool:
    """RFC 5321 §4.1.3: [IPv4], [IPv6:addr] (and the rarely seen [IPv4:addr])."""
    if not literal.endswith("]"):
        return False
    inner = literal[1:-1]
    tag, colon, rest = inner.partition(":")
    try:
        if colon and tag.upper() == "IPV6":
            ipaddress.IPv6Address(rest)
        elif colon and tag.upper() == "IPV4":
            ipaddress.IPv4Address(rest)
        else:
            ipaddress.IPv4Address(inner)
    except ValueError:
        return False
    return True


def recipient_reply(address: str, domains: tuple[str, ...], may_relay: bool) -> str | None:
    """Why RCPT TO:<address> is refused, or None.

    Local parts carrying routing (`%`, `!`, a quoted `@`) are relay attempts even when the domain is
    ours: a mailer further on may honour the percent hack or the bang path (Postfix refuses them
    through allow_untrusted_routing=no). aiosmtpd has already stripped a source route
    (`@lab.test:victim@example.net` arrives as `victim@example.net`), which then fails as foreign.
    """
    if may_relay:
        return None
    local, at, domain = address.rpartition("@")
    if not at:
        if address.lower() == "postmaster":
            return None  # RFC 5321 §4.1.1.3: `RCPT TO:<Postmaster>` without a domain MUST work
        if "!" in address or "%" in address:
            return f"554 5.7.1 <{address}>: Relay access denied"
        return f"504 5.5.2 <{address}>: Recipient address rejected: need fully-qualified address"
    if domain.lower().rstrip(".") not in domains:
        return f"554 5.7.1 <{address}>: Relay access denied"
    if any(c in local for c in "%!@"):
        return f"554 5.7.1 <{address}>: Relay access denied"
    return None
