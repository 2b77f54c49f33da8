"""What to try next, for the usual mix-ups a failure message alone does not explain. Pure: the caller says
what happened, these say what the user most likely got wrong (or None when nothing obvious)."""

from __future__ import annotations


def no_greeting(tls_mode: str) -> str | None:
    """The connection opened but no greeting came: the classic sign of plaintext sent to an implicit-TLS port,
    which waits in silence for a TLS ClientHello."""
    if tls_mode == "implicit":
        return None
    return (
        "no greeting: a port that speaks TLS from the first byte (implicit TLS, RFC 8314; usually 465) waits "
        "in silence for a TLS handshake; try --tls-on-connect"
    )


def connect_failure(message: str, where: str = "--server") -> str | None:
    """No connection: a name that does not resolve, or nothing listening. `where`: where the name was given."""
    if message.startswith("cannot resolve"):
        return f"check the name in {where} (a typo?), or give an IP address"
    if "Connection refused" in message:
        return "nothing listens on that port: check the port (the lab prints its ports: smtpprobe lab --port 0)"
    return None


def port_mode(port: int, tls_mode: str) -> str | None:
    """Before waiting: port 465 without implicit TLS would sit silent until the greeting timeout."""
    if port == 465 and tls_mode != "implicit":
        return "port 465 usually speaks TLS from the first byte (implicit TLS, RFC 8314): add --tls-on-connect"
    return None


def tls_failure(message: str, tls_mode: str, starttls: str = "--tls") -> str | None:
    """A TLS handshake that failed because the other side was speaking plaintext SMTP. `starttls`: how the
    command asks for STARTTLS (send: --tls; the REPL: /starttls)."""
    if tls_mode == "implicit" and "wrong version number" in message:
        return (
            "the server answered in plaintext (its greeting), so this port does not speak TLS from the start: "
            f"drop --tls-on-connect, and use {starttls} for STARTTLS"
        )
    return None


def bare_recipient(address: str, option: str = "--to") -> str | None:
    """`--to userlab.test`: an address without @ (only <postmaster> may go without a domain, RFC 5321
    §4.1.1.3). None when the address is fine."""
    if "@" in address or address.lower() == "postmaster":
        return None
    return (
        f"{option} {address!r} is not an address (no @): write user@domain (only 'postmaster' may go without "
        "a domain)"
    )
