"""The client's identities as sent (HELO name, MAIL FROM address), judged by their form. Pure: no DNS.

The audit accepts any printable HELO and sender, as a receiver would have to, and reports what is wrong with
them here instead of refusing them: a receiver's SPF check runs on exactly these strings (RFC 7208 §2.3, §2.4,
§4.3), so turning them away would hide the very findings a user came for.
"""

from __future__ import annotations

import ipaddress
import re

from smtpprobe.audit import findings as F

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


def domain_name(text: str) -> str | None:
    """`text` as a lower-case ASCII DNS name of two or more labels, or None when it is not one."""
    name = text.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    return name


def helo_literal(helo: str) -> str | None:
    """The address of an address-literal HELO ([192.0.2.1], [IPv6:2001:db8::1]), else None."""
    if not (helo.startswith("[") and helo.endswith("]")):
        return None
    inner = helo[1:-1]
    if inner[:5].lower() == "ipv6:":
        inner = inner[5:]
    try:
        return str(ipaddress.ip_address(inner))
    except ValueError:
        return None


def helo_findings(helo: str, ip: str | None) -> list[F.Finding]:
    """Findings about the HELO's form; empty when it is a host name for the DNS checks to resolve."""
    literal = helo_literal(helo)
    if literal is not None:
        other = f", not --ip {ip}" if ip and literal != ip else ""
        return [
            F.warning(
                "host.helo-literal",
                f"HELO {F.printable(helo)} is an address literal{other}",
                "Greet with the host's fully qualified name (the one its PTR points to); many "
                "receivers refuse literals. SPF checks no HELO identity for a literal.",
                "RFC 5321 §4.1.1.1, §4.1.3; RFC 7208 §2.3",
            )
        ]
    if domain_name(helo) is not None:
        return []
    if re.fullmatch(r"[A-Za-z0-9-]{1,63}\.?", helo):
        return [
            F.warning(
                "host.helo-not-fqdn",
                f"HELO {F.printable(helo)!r} is not a fully qualified domain name",
                "Use the host's FQDN (the name its PTR points to); Postfix's "
                "reject_non_fqdn_helo_hostname answers 504 5.5.2. SPF gives none for it.",
                "RFC 5321 §4.1.1.1; RFC 7208 §2.3",
            )
        ]
    return [
        F.warning(
            "host.helo-invalid",
            f"HELO {F.printable(helo)!r} is neither a domain name nor an address literal",
            "Use the host's fully qualified name: letters, digits, hyphens, dots.",
            "RFC 5321 §4.1.1.1, §2.3.5",
        )
    ]


def sender_findings(sender: str | None, helo: str | None, domain: str) -> list[F.Finding]:
    """Findings about the MAIL FROM address's form (None: not given, the audit uses postmaster@DOMAIN)."""
    if sender is None:
        return []
    if sender == "":
        who = f"postmaster@{helo}" if helo else f"postmaster@{domain} (no --helo given)"
        return [
            F.info(
                "spf.sender-null",
                f"null sender <>: SPF checks {F.printable(who)} instead",
                "",
                "RFC 7208 §2.4",
            )
        ]
    local, _, dom = sender.rpartition("@")
    out = []
    if not local:
        out.append(
            F.info(
                "spf.sender-no-localpart",
                f"sender {F.printable(sender)!r} has no local part: SPF uses postmaster",
                "Send a full address (RFC 5321 requires a local part).",
                "RFC 7208 §4.3; RFC 5321 §4.1.2",
            )
        )
    elif not (_ATEXT.match(local) or re.fullmatch(r'"([^"\\]|\\.)*"', local)):
        out.append(
            F.warning(
                "spf.sender-odd-localpart",
                f"local part {F.printable(local)!r} needs quoting in SMTP",
                "Quote it or use only letters, digits and !#$%&'*+/=?^_`{|}~-.",
                "RFC 5321 §4.1.2",
            )
        )
    if domain_name(dom) is None:
        out.append(
            F.error(
                "spf.sender-bad-domain",
                f"sender domain {F.printable(dom)!r} is not a valid domain "
                "name: SPF gives none and receivers reject the address",
                "Send from an address in a domain that exists.",
                "RFC 7208 §4.3; RFC 5321 §4.1.2",
            )
        )
    return out
