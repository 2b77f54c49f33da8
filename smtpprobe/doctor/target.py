"""Where the probes connect: `--server`, or the best MX of the `--to` domain (RFC 5321 §5.1).

The MX and its address are looked up through the audit's resolver, so `--resolver` applies to them too
(the tests' DNS server is not the system's).
"""

from __future__ import annotations

from dataclasses import dataclass

from smtpprobe.errors import TransportError
from smtpprobe.target import is_ip


@dataclass(frozen=True)
class Target:
    name: str  # what the user knows it as: the --server host or the MX host name
    address: str  # what to connect to (an IP, or a name left to the system resolver)
    how: str  # "given with --server" / "MX of example.org (preference 10)"




def resolve_target(server_host: str | None, to: str | None, resolver: str | None, timeout: float) -> Target:
    if server_host is not None:
        if is_ip(server_host) or resolver is None:
            return Target(server_host, server_host, "given with --server")
        address = _address(server_host, resolver, timeout)
        return Target(server_host, address or server_host, "given with --server")
    assert to is not None
    domain = to.rpartition("@")[2].rstrip(".").lower()
    import asyncio

    from smtpprobe.audit.resolver import Resolver, Status

    r = Resolver(resolver, timeout)
    mx = asyncio.run(r.lookup(domain, "MX"))
    if mx.failed:
        raise TransportError(f"MX lookup for {domain} failed: {mx.describe()}")
    if mx.status == Status.NXDOMAIN:
        raise TransportError(f"recipient domain {domain} does not exist (NXDOMAIN)")
    if not mx.records:  # no MX: the domain itself is the implicit MX (RFC 5321 §5.1)
        host, how = domain, f"no MX for {domain}: its own address (RFC 5321 §5.1)"
    else:
        pref, host = min(mx.records)
        if host in ("", "."):
            raise TransportError(f"{domain} publishes a null MX (RFC 7505): it accepts no mail")
        how = f"MX of {domain} (preference {pref})"
    address = _address(host, resolver, timeout)
    if address is None:
        raise TransportError(f"{host} ({how}) has no address")
    return Target(host, address, how)


def _address(host: str, resolver: str | None, timeout: float) -> str | None:
    import asyncio

    from smtpprobe.audit.resolver import Resolver

    async def both() -> list[str]:
        r = Resolver(resolver, timeout)
        a, aaaa = await asyncio.gather(r.lookup(host, "A"), r.lookup(host, "AAAA"))
        return list(a.records) + list(aaaa.records)

    found = asyncio.run(both())
    return found[0] if found else None
