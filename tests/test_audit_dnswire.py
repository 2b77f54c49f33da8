"""The pooled client's answer reader (dnswire + interpret) against dnspython's reading of the same bytes.

The oracle below is how the answer was read before dnswire existed: dnspython parses the whole message
and the stub resolver's rules are applied to its objects. For generated answers (names with escapes and
mixed case, compression, CNAME chains and loops, other classes, referrals, every rcode) and for random
corruptions of them: whenever dnspython parses the message, the Lookup must be identical; whenever our
reader says MALFORMED, dnspython must refuse the message too. (dnspython also refuses a message whose
broken part is a record that nobody asked for; we do not read those, so that direction is not required.)
"""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpprobe.audit.dnswire import name_wire
from smtpprobe.audit.interpret import interpret
from smtpprobe.audit.lookup import Lookup, Status
from smtpprobe.audit.resolver import _convert

LABELS = [b"mail", b"MAIL", b"example", b"Example", b"test", b"_dmarc", b"a.b", b"x y", b"\xff\x00", b"@$;", b"x" * 63]
TYPES = ["A", "AAAA", "TXT", "MX", "PTR", "CNAME", "NS"]
ASKED = ["A", "AAAA", "TXT", "MX", "PTR", "NS", "SOA", "TLSA"]


def oracle(name: str, rdtype: str, qname: dns.name.Name, wire: bytes) -> Lookup | None:
    """dnspython's reading (None: dnspython refuses the message)."""
    flags = int.from_bytes(wire[2:4], "big")
    secure = bool(flags & dns.flags.AD)
    try:
        response = dns.message.from_wire(wire, one_rr_per_rrset=True)
    except Exception:  # noqa: BLE001 - any refusal
        return None
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return Lookup(name, rdtype, Status.NXDOMAIN, secure=secure)
    if rcode == dns.rcode.SERVFAIL:
        return Lookup(name, rdtype, Status.SERVFAIL)
    if rcode == dns.rcode.REFUSED:
        return Lookup(name, rdtype, Status.REFUSED)
    if rcode != dns.rcode.NOERROR:
        return Lookup(name, rdtype, Status.ERROR, error=f"the DNS server answered {dns.rcode.to_text(rcode)}")

    def rdatas(owner: dns.name.Name, t: int) -> list:
        return [rd for rrset in response.answer if rrset.rdtype == t and rrset.rdclass == dns.rdataclass.IN
                and rrset.name == owner for rd in rrset]

    def chain() -> tuple:
        return tuple((rrset.name.to_text(True).lower(), rd.target.to_text(True).lower())
                     for rrset in response.answer if rrset.rdtype == dns.rdatatype.CNAME for rd in rrset)

    want = dns.rdatatype.from_text(rdtype)
    current, seen = qname, {qname}
    for _ in range(16):
        found = rdatas(current, want)
        if found:
            return Lookup(name, rdtype, Status.OK, _convert(rdtype, found), secure=secure)
        alias = rdatas(current, dns.rdatatype.CNAME)
        if not alias:
            break
        current = alias[0].target
        if current in seen:
            return Lookup(name, rdtype, Status.CNAME_LOOP, error="CNAME loop", chain=chain())
        seen.add(current)
    else:
        return Lookup(name, rdtype, Status.CNAME_LOOP, error="CNAME chain too long", chain=chain())
    if (not response.answer and not response.flags & dns.flags.AA
            and any(rrset.rdtype == dns.rdatatype.NS for rrset in response.authority)):
        return Lookup(name, rdtype, Status.REFERRAL)
    return Lookup(name, rdtype, Status.NODATA, secure=secure)


names = st.lists(st.sampled_from(LABELS), min_size=1, max_size=3).map(lambda ls: dns.name.Name([*ls, b""]))


@st.composite
def rdata(draw: st.DrawFn, rdtype: str) -> dns.rdata.Rdata:
    target = draw(names).to_text()
    text = {
        "A": draw(st.sampled_from(["192.0.2.1", "0.0.0.0", "255.255.255.255"])),
        "AAAA": draw(st.sampled_from(["2001:db8::1", "::", "::ffff:192.0.2.1", "::192.0.2.1", "1:0:0:1::1"])),
        "TXT": draw(st.sampled_from(['"v=spf1 -all"', '"a" "b c"', '""', '"\\255\\000;"'])),
        "MX": f"{draw(st.integers(0, 65535))} {target}",
    }.get(rdtype, target)
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


@st.composite
def answers(draw: st.DrawFn) -> tuple[str, str, dns.name.Name, bytes]:
    qname = draw(names)
    asked = draw(st.sampled_from(ASKED))
    msg = dns.message.make_response(dns.message.make_query(qname, asked))
    msg.flags |= draw(st.sampled_from([0, dns.flags.AA, dns.flags.AD, dns.flags.AA | dns.flags.AD]))
    msg.set_rcode(draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5])))
    for _ in range(draw(st.integers(0, 5))):
        rdtype = draw(st.sampled_from(TYPES + [asked] * 2 if asked in TYPES else TYPES))
        owner = draw(st.one_of(st.just(qname), names))
        rdclass = draw(st.sampled_from([dns.rdataclass.IN] * 5 + [dns.rdataclass.HS]))
        rd = draw(rdata(rdtype))
        msg.answer.append(dns.rrset.from_rdata_list(owner, 300, [rd]) if rdclass == dns.rdataclass.IN else
                          _in_class(owner, rd, rdclass))
    if draw(st.booleans()):
        msg.authority.append(dns.rrset.from_rdata_list(draw(names), 300, [draw(rdata("NS"))]))
    wire = msg.to_wire()
    name = qname.to_text(True).lower()
    return name, asked, qname, wire


def _in_class(owner: dns.name.Name, rd: dns.rdata.Rdata, rdclass: int) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(owner, rdclass, rd.rdtype)
    rrset.add(dns.rdata.GenericRdata(rdclass, rd.rdtype, rd.to_wire()), 300)  # same bytes, another class
    return rrset


def ours(name: str, asked: str, wire: bytes) -> Lookup:
    return interpret(name, asked, dns.rdatatype.from_text(asked), name_wire(name), wire)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_a_generated_answer_reads_as_dnspython_reads_it(case: tuple[str, str, dns.name.Name, bytes]) -> None:
    name, asked, qname, wire = case
    expected = oracle(name, asked, qname, wire)
    assert expected is not None
    assert ours(name, asked, wire) == expected


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3),
       st.integers(0, 600))
def test_a_corrupted_answer_is_read_as_dnspython_reads_it_or_refused_by_both(
    case: tuple[str, str, dns.name.Name, bytes], flips: list[tuple[int, int]], cut: int
) -> None:
    name, asked, qname, wire = case
    data = bytearray(wire)
    for at, value in flips:
        data[12 + at % max(len(data) - 12, 1)] = value  # the header stays: it is matched before reading
    data = bytes(data[: max(12, len(data) - cut % 40)] if cut < 200 else data)
    expected, got = oracle(name, asked, qname, data), ours(name, asked, data)
    if got.status == Status.MALFORMED:
        assert expected is None, (got, expected)
    elif expected is not None:
        assert got == expected


def test_names_are_built_as_dnspython_builds_them() -> None:
    for text in ["example.com", "Example.COM.", "_dmarc.x-y.example", "a" * 63 + ".b", "."]:
        assert name_wire(text) == dns.name.from_text(text).to_wire().lower()
    for bad in ["a" * 64 + ".b", "a..b", ".".join(["a" * 60] * 5)]:
        try:
            name_wire(bad)
        except (dns.exception.DNSException, ValueError):
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_a_pointer_loop_is_malformed_not_a_hang() -> None:
    header = bytes.fromhex("1234 8180 0001 0001 0000 0000".replace(" ", ""))
    question = b"\x04mail\x00\x00\x01\x00\x01"
    looping = b"\xc0\x1d"  # the answer's owner name points at itself (offset 29)
    wire = header + question + looping + bytes.fromhex("0001 0001 0000012c 0004 c0000201".replace(" ", ""))
    got = ours("mail", "A", wire)
    assert got.status == Status.MALFORMED and "pointer" in got.error
    assert oracle("mail", "A", dns.name.from_text("mail"), wire) is None
