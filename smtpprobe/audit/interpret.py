"""An answer's wire form read as dnspython's stub resolver reads it: the rcode, then the CNAME chain inside
the answer section up to the records asked for (RFC 1034 §3.6.2), then a referral or NODATA.

The header alone decides NXDOMAIN, SERVFAIL, REFUSED and a plain NODATA (most answers in bulk audits),
so those are never walked; the rest is read by dnswire.
"""

from __future__ import annotations

import struct

from smtpprobe.audit.dnswire import AA, AD, CNAME, IN, NS, Malformed, Message, wire_text
from smtpprobe.audit.lookup import Lookup, Status

NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
MAX_CHAIN = 16  # CNAMEs followed inside one answer, as dnspython's resolver


def interpret(name: str, rdtype: str, want: int, qname: bytes, wire: bytes) -> Lookup:
    """`want`: the type's number; `qname`: the name asked, in wire form, lower-case."""
    _id, flags, _qd, ancount, nscount, _ar = struct.unpack_from("!HHHHHH", wire)
    secure = bool(flags & AD)
    rcode = flags & 0x000F
    if ancount == 0 or rcode != NXDOMAIN:  # an NXDOMAIN with answers ends a CNAME chain: read it whole
        failed = _failed(name, rdtype, rcode, secure)
        if failed is not None:
            return failed
    if rcode == NOERROR and ancount == 0 and (flags & AA or nscount == 0):
        return Lookup(name, rdtype, Status.NODATA, secure=secure)  # a referral needs a non-authoritative NS set
    try:
        return _read(name, rdtype, want, qname, Message(wire), secure)
    except Malformed as exc:
        return Lookup(name, rdtype, Status.MALFORMED, error=str(exc))


def _read(name: str, rdtype: str, want: int, qname: bytes, msg: Message, secure: bool) -> Lookup:
    import dns.rcode

    failed = _failed(name, rdtype, msg.rcode, secure)
    if failed is not None:
        return failed
    if msg.rcode != NOERROR:
        return Lookup(name, rdtype, Status.ERROR, error=f"the DNS server answered {dns.rcode.to_text(msg.rcode)}")
    current, seen = qname, {qname}
    for _ in range(MAX_CHAIN):
        found = [r for r in msg.answers if r.rdtype == want and r.rdclass == IN and r.owner == current]
        if found:
            return Lookup(name, rdtype, Status.OK, tuple(msg.value(r, rdtype) for r in found), secure=secure)
        alias = next((r for r in msg.answers if r.rdtype == CNAME and r.rdclass == IN and r.owner == current),
                     None)
        if alias is None:
            break
        current = msg.target_wire(alias)
        if current in seen:
            return Lookup(name, rdtype, Status.CNAME_LOOP, error="CNAME loop", chain=_chain(msg))
        seen.add(current)
    else:
        return Lookup(name, rdtype, Status.CNAME_LOOP, error="CNAME chain too long", chain=_chain(msg))
    if not msg.answers and not msg.flags & AA and NS in msg.authority_types:
        return Lookup(name, rdtype, Status.REFERRAL)
    return Lookup(name, rdtype, Status.NODATA, secure=secure)


def _failed(name: str, rdtype: str, rcode: int, secure: bool) -> Lookup | None:
    """NXDOMAIN, SERVFAIL and REFUSED, from the rcode alone."""
    if rcode == NXDOMAIN:
        return Lookup(name, rdtype, Status.NXDOMAIN, secure=secure)
    if rcode == SERVFAIL:
        return Lookup(name, rdtype, Status.SERVFAIL)
    if rcode == REFUSED:
        return Lookup(name, rdtype, Status.REFUSED)
    return None


def _chain(msg: Message) -> tuple[tuple[str, str], ...]:
    """The CNAMEs of a looping answer as (owner, target) pairs, lower-case, without the final dot."""
    return tuple((wire_text(r.owner), msg.value(r, "CNAME")) for r in msg.answers if r.rdtype == CNAME)
