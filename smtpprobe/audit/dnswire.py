"""A DNS answer read straight from its wire form (RFC 1035 §4.1), for the pooled UDP client.

dnspython builds an object per name, RR and rdata of every section; a bulk audit receives thousands of
answers a second and needs only the answer section's records of one type (or the CNAMEs leading to them),
so here the message is walked once: every section's structure is checked as dnspython checks it (names,
compression pointers pointing backwards and not into the name itself, RR headers inside the message, no
trailing bytes), and only the records the caller asks for are decoded, into the plain values of
resolver.Lookup. tests/unit/test_dnswire.py compares every result with dnspython's reading of the same bytes.
"""

from __future__ import annotations

import re
import struct

CNAME, NS, OPT, IN = 5, 2, 41, 1
QR, AA, TC, RD, AD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0020  # header flags (RFC 1035 §4.1.1, RFC 4035 §3.2.3)
MAX_POINTER_HOPS = 16  # dnspython's MAX_COMPRESSION_POINTER_CHAIN
_PLAIN_LABEL = re.compile(rb"[!#%&'*+,\-/0-9:<=>?A-Z\[\]^_`a-z{|}~]*\Z")  # printed as is; else escaped
_ESCAPED = b'"().;\\@$'
_RR = struct.Struct("!HHIH")
_LDH = re.compile(r"[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\.?\Z")


class Malformed(ValueError):
    """Not a DNS message: the reason, in a few words."""


class Record:
    __slots__ = ("end", "owner", "rdclass", "rdtype", "start")

    def __init__(self, owner: bytes, rdtype: int, rdclass: int, start: int, end: int) -> None:
        self.owner, self.rdtype, self.rdclass, self.start, self.end = owner, rdtype, rdclass, start, end


class Message:
    """The header, the answer section's records (owner names lower-case, in wire form) and the types of
    the authority section's records; rdata stays in `wire` until asked for."""

    __slots__ = ("answers", "authority_types", "flags", "rcode", "wire")

    def __init__(self, wire: bytes) -> None:
        if len(wire) < 12:
            raise Malformed("shorter than a DNS header")
        self.wire = wire
        _id, self.flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", wire)
        self.rcode = self.flags & 0x000F
        offset = 12
        for _ in range(qd):
            offset = _skip_name(wire, offset) + 4
        self.answers: list[Record] = []
        for _ in range(an):
            record, offset = _record(wire, offset)
            self.answers.append(record)
        self.authority_types: list[int] = []
        for _ in range(ns):
            record, offset = _record(wire, offset)
            self.authority_types.append(record.rdtype)
        for _ in range(ar):
            record, offset = _record(wire, offset)
            if record.rdtype == OPT:  # the extended rcode's upper 8 bits are the OPT TTL's first byte
                self.rcode |= wire[record.start - 6] << 4
        if offset != len(wire):
            raise Malformed(f"{len(wire) - offset} bytes after the last record")

    def value(self, record: Record, rdtype: str) -> object:
        """One record's rdata as resolver.Lookup holds it (see resolver._convert)."""
        wire, start, end = self.wire, record.start, record.end
        if rdtype == "TXT":
            strings, at = [], start
            while at < end:
                n = wire[at]
                if at + 1 + n > end:
                    raise Malformed("a TXT string runs past its record")
                strings.append(wire[at + 1 : at + 1 + n])
                at += 1 + n
            if not strings:
                raise Malformed("a TXT record without strings")
            return tuple(strings)
        if rdtype == "A":
            if end - start != 4:
                raise Malformed("an A record that is not 4 bytes")
            return "%d.%d.%d.%d" % tuple(wire[start:end])  # noqa: UP031 - the fastest spelling here
        if rdtype == "AAAA":
            if end - start != 16:
                raise Malformed("an AAAA record that is not 16 bytes")
            import dns.ipv6

            return dns.ipv6.inet_ntoa(wire[start:end])
        if rdtype == "MX":
            if end - start < 3:
                raise Malformed("an MX record too short")
            return (int.from_bytes(wire[start : start + 2], "big"), self.target(record, 2).lower())
        if rdtype in ("PTR", "CNAME"):
            return self.target(record).lower()
        import dns.rdata  # rare types (NS, SOA, TLSA): dnspython's text form

        try:
            return dns.rdata.from_wire(record.rdclass, record.rdtype, wire, start, end - start).to_text()
        except Exception as exc:  # noqa: BLE001 - whatever dnspython finds wrong, the answer is garbage
            raise Malformed(f"{type(exc).__name__}: {exc}"[:120]) from None

    def target(self, record: Record, skip: int = 0) -> str:
        """The domain name in the rdata after `skip` bytes, as text."""
        return text(self._rdata_name(record, skip))

    def target_wire(self, record: Record) -> bytes:
        return _to_wire(self._rdata_name(record, 0))

    def _rdata_name(self, record: Record, skip: int) -> list[bytes]:
        """The labels of the name in the rdata after `skip` bytes; it must end where the rdata ends."""
        labels, after = _name(self.wire, record.start + skip, record.end)
        if after != record.end:
            raise Malformed("a name does not fill its record")
        return labels


def text(labels: list[bytes]) -> str:
    """dnspython's to_text(omit_final_dot=True): '.' for the root, special characters escaped."""
    if not labels:
        return "."
    return ".".join(
        label.decode("ascii") if _PLAIN_LABEL.match(label) else _escapify(label) for label in labels
    )


def wire_text(name: bytes) -> str:
    """A name in uncompressed wire form as text."""
    return text(_name(name, 0, len(name))[0])


def name_wire(name: str) -> bytes:
    """A name's uncompressed wire form, lower-case; ValueError (or dnspython's) for a name that is not one.
    Plain host names are encoded here; anything else (escapes, IDNA, odd lengths) by dnspython."""
    if _LDH.match(name):
        labels = name.rstrip(".").split(".") if name not in (".", "") else []
        if all(0 < len(label) < 64 for label in labels):
            wire = _to_wire([label.encode() for label in labels])
            if len(wire) <= 255:
                return wire
    import dns.name

    return dns.name.from_text(name).to_wire().lower()


def _escapify(label: bytes) -> str:
    return "".join(
        "\\" + chr(c) if c in _ESCAPED else chr(c) if 0x20 < c < 0x7F else f"\\{c:03d}" for c in label
    )


def _to_wire(labels: list[bytes]) -> bytes:
    return b"".join(bytes((len(label),)) + label for label in labels).lower() + b"\x00"


def _record(wire: bytes, offset: int) -> tuple[Record, int]:
    labels, offset = _name(wire, offset, len(wire))
    if offset + 10 > len(wire):
        raise Malformed("a record header runs past the message")
    rdtype, rdclass, _ttl, rdlength = _RR.unpack_from(wire, offset)
    start = offset + 10
    end = start + rdlength
    if end > len(wire):
        raise Malformed("a record runs past the message")
    return Record(_to_wire(labels), rdtype, rdclass, start, end), end


def _skip_name(wire: bytes, offset: int) -> int:
    return _name(wire, offset, len(wire))[1]


def _name(wire: bytes, offset: int, limit: int) -> tuple[list[bytes], int]:
    """(labels without the root, offset after the name) of a possibly compressed name; dnspython's rules:
    pointers point backwards, at most 16 hops, a pointer's target may not overlap the name so far,
    at most 255 bytes."""
    labels: list[bytes] = []
    after = -1  # where the name ends in the record (before the first pointer)
    lowest = offset  # pointers must point below this
    end = limit
    length = 1
    hops = 0
    while True:
        if offset >= end:
            raise Malformed("a name runs past its end")
        count = wire[offset]
        if count == 0:
            offset += 1
            break
        if count < 64:
            if offset + 1 + count > end:
                raise Malformed("a label runs past its end")
            labels.append(wire[offset + 1 : offset + 1 + count])
            length += count + 1
            offset += 1 + count
        elif count >= 192:
            if offset + 2 > end:
                raise Malformed("a compression pointer runs past its end")
            pointer = (count & 0x3F) << 8 | wire[offset + 1]
            if after < 0:
                after = offset + 2
            if pointer >= lowest:
                raise Malformed("a compression pointer does not point backwards")
            hops += 1
            if hops > MAX_POINTER_HOPS:
                raise Malformed("a compression pointer chain too long")
            end = lowest  # what the pointer leads to must not overlap the name so far
            lowest = offset = pointer
        else:
            raise Malformed("an unknown label type")
    if length > 255:
        raise Malformed("a name longer than 255 bytes")
    return labels, (after if after >= 0 else offset)
