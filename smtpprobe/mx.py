"""Where to send when no --server is given: the best MX of the recipient's domain (RFC 5321 §5.1)."""

from __future__ import annotations

from smtpprobe.errors import TransportError


def best_mx(domain: str, timeout: float = 10.0) -> str:
    import dns.exception  # dnspython costs ~300 ms to import: only when no --server was given
    import dns.resolver

    resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    try:
        answer = resolver.resolve(domain, "MX")
    except dns.resolver.NoAnswer:
        return domain  # no MX: the domain's own address is the implicit MX
    except dns.resolver.NXDOMAIN:
        raise TransportError(f"recipient domain {domain} does not exist (NXDOMAIN)") from None
    except dns.exception.DNSException as exc:
        raise TransportError(f"MX lookup for {domain} failed: {exc}") from None
    records = sorted(answer, key=lambda r: r.preference)
    host = records[0].exchange.to_text(omit_final_dot=True)
    if host in ("", "."):
        raise TransportError(f"{domain} publishes a null MX (RFC 7505): it accepts no mail")
    return host
