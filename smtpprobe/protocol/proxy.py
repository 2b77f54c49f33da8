"""HAProxy PROXY protocol headers, v1 (text) and v2 (binary), as a client behind a proxy would be announced.

Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt (sections 2.1 and 2.2). Pure: addresses in,
bytes out. Postfix reads them with `smtpd_upstream_proxy_protocol = haproxy`.
"""

from __future__ import annotations

import ipaddress
import struct

from smtpprobe.errors import UsageError

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def _addresses(source: str, dest: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    try:
        src, dst = ipaddress.ip_address(source.strip("[]")), ipaddress.ip_address(dest.strip("[]"))
    except ValueError as exc:
        raise UsageError(f"PROXY header: {exc}") from None
    if src.version != dst.version:
        raise UsageError(f"PROXY header: {source} and {dest} are not of the same address family")
    return src, dst


def v1(source: str, source_port: int, dest: str, dest_port: int) -> bytes:
    """`PROXY TCP4 192.0.2.1 198.51.100.2 40000 25\\r\\n` (section 2.1)."""
    src, dst = _addresses(source, dest)
    family = "TCP4" if src.version == 4 else "TCP6"
    return f"PROXY {family} {src} {dst} {source_port} {dest_port}\r\n".encode("ascii")


def v2(source: str, source_port: int, dest: str, dest_port: int) -> bytes:
    """Signature, version 2 + PROXY command, TCP over IPv4 or IPv6, then the addresses (section 2.2)."""
    src, dst = _addresses(source, dest)
    family = 0x11 if src.version == 4 else 0x21  # AF_INET/AF_INET6 << 4 | STREAM
    body = src.packed + dst.packed + struct.pack("!HH", source_port, dest_port)
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(body)) + body


def header(version: int, source: str, source_port: int, dest: str, dest_port: int) -> bytes:
    return (v1 if version == 1 else v2)(source, source_port, dest, dest_port)
