"""DNS questions for DANE and MTA-STS, asked of one resolver with the DO bit, so the answer says whether
the resolver validated it (the AD flag, RFC 4035 §3.2.3; RFC 7672 §2.1.1 relies on it). A validating
resolver is the user's (--resolver, or the system's first nameserver): smtpprobe does not validate itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_RECORDS = 64  # records kept per answer: a hostile zone may publish thousands


@dataclass
class Answer:
    name: str
    rdtype: str
    status: str  # ok, nodata, nxdomain, servfail (bogus DNSSEC answers come back as SERVFAIL), timeout, error
    secure: bool = False  # the resolver set AD: DNSSEC-validated
    records: list = field(default_factory=list)  # dnspython rdata objects
    error: str = ""


def resolver_address(resolver: str | None) -> tuple[str, int]:
    """`IP`, `IP:PORT`, `[v6]:PORT`; None: the system's first nameserver."""
    if not resolver:
        import dns.resolver

        try:
            return dns.resolver.get_default_resolver().nameservers[0], 53
        except (dns.resolver.NoResolverConfiguration, IndexError):
            return "127.0.0.1", 53
    text = resolver.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 53
    if text.count(":") == 1:
        host, port = text.split(":")
        if port.isdigit() and 0 < int(port) < 65536:
            return host, int(port)
    return text, 53


def ask(name: str, rdtype: str, resolver: str | None, timeout: float) -> Answer:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    host, port = resolver_address(resolver)
    try:
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
    except (dns.exception.DNSException, ValueError) as exc:
        return Answer(name, rdtype, "error", error=f"not a DNS name: {exc}")
    query.flags |= dns.flags.AD | dns.flags.RD  # RFC 6840 §5.7: AD in a query asks for the AD bit back
    try:
        response = dns.query.udp(query, host, timeout=timeout, port=port)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, host, timeout=timeout, port=port)
    except dns.exception.Timeout:
        return Answer(name, rdtype, "timeout", error=f"no answer from {host}:{port} within {timeout:g}s")
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        return Answer(name, rdtype, "error", error=str(exc))
    rcode = response.rcode()
    secure = bool(response.flags & dns.flags.AD)
    if rcode == dns.rcode.NXDOMAIN:
        return Answer(name, rdtype, "nxdomain", secure)
    if rcode == dns.rcode.SERVFAIL:  # a validating resolver's answer to bogus data, or a broken zone
        return Answer(name, rdtype, "servfail", error="SERVFAIL")
    if rcode != dns.rcode.NOERROR:
        return Answer(name, rdtype, "error", error=f"{dns.rcode.to_text(rcode)} from {host}:{port}")
    wanted = dns.rdatatype.from_text(rdtype)
    records = [rd for rrset in response.answer if rrset.rdtype == wanted for rd in rrset][:MAX_RECORDS]
    return Answer(name, rdtype, "ok" if records else "nodata", secure, records)
