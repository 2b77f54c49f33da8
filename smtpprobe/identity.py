"""Who we say we are when the user did not say: the EHLO name and the envelope sender.

A strict server refuses a HELO name that is not fully qualified (Postfix reject_non_fqdn_helo_hostname:
`504 5.5.2 <vm>: Helo command rejected: need fully-qualified hostname`), so a bare host name such as `vm`
would get the default refused for the wrong reason. This host's name is used when it is fully qualified,
else a name under example.org (RFC 2606) that passes every syntax check."""

from __future__ import annotations

import re
import socket

FALLBACK_HELO = "smtpprobe.example.org"
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def default_helo() -> str:
    name = socket.gethostname()
    if "." in name and all(_LABEL.fullmatch(label) for label in name.split(".")):
        return name
    return FALLBACK_HELO


def default_sender(helo: str | None = None) -> str:
    """`user@<the EHLO name>`: a domain part a receiver can at least parse."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "smtpprobe"
    return f"{user}@{helo or default_helo()}"
