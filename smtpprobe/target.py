"""Parsing `--server HOST[:PORT]` the ways users write it: host, host:port, [v6]:port, a bare v6 address."""

from __future__ import annotations

from smtpprobe import validate
from smtpprobe.errors import UsageError


def parse_server(text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if not text:
        raise UsageError("--server: empty host")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise UsageError(f"--server {text!r}: missing ']'")
        return validate.host(host), _port(rest[1:], text) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return validate.host(host), _port(port, text)
    return validate.host(text), default_port  # a name, an IPv4 address, or an IPv6 address without a port


def is_ip(host: str) -> bool:
    """An IP address (IPv4, IPv6, or either in brackets as in an address literal), not a name."""
    import ipaddress  # only where a host is asked about: not on every start-up

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _port(value: str, text: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise UsageError(f"--server {text!r}: port must be a number from 1 to 65535")
    return int(value)
