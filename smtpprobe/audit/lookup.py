"""What one DNS question got: a Lookup, classified so that callers never confuse "no record" with "could not
ask": OK, NODATA, NXDOMAIN (void); SERVFAIL, REFUSED, TIMEOUT, CNAME_LOOP, MALFORMED, REFERRAL, ERROR (the
answer is unknown); BADNAME (not a DNS name)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Status(str, Enum):
    OK = "ok"
    NODATA = "nodata"
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    CNAME_LOOP = "cname-loop"
    MALFORMED = "malformed"
    REFERRAL = "referral"
    ERROR = "error"
    BADNAME = "badname"


@dataclass(frozen=True)
class Lookup:
    name: str
    rdtype: str
    status: Status
    # TXT: tuple of tuples of bytes (the character-strings of each RR); A/AAAA/PTR: str;
    # MX: (preference, exchange) with names lower-case and without the trailing dot.
    records: tuple[Any, ...] = ()
    error: str = ""
    chain: tuple[tuple[str, str], ...] = ()  # CNAME_LOOP: the (owner, target) CNAMEs that loop
    secure: bool = False  # the resolver set AD: it validated the answer with DNSSEC (RFC 4035 §3.2.3)

    @property
    def failed(self) -> bool:
        """SERVFAIL, timeout or another problem: the answer is unknown (temperror)."""
        return self.status in FAILED

    @property
    def void(self) -> bool:
        return self.status in (Status.NODATA, Status.NXDOMAIN, Status.BADNAME)

    def txt(self) -> list[bytes]:
        """Each TXT RR with its strings joined without spaces (RFC 7208 §3.3, RFC 6376 §3.6.2.2)."""
        return [b"".join(strings) for strings in self.records] if self.rdtype == "TXT" else []

    def describe(self) -> str:
        return {
            Status.OK: "answered",
            Status.NODATA: "exists but has no such record (NODATA)",
            Status.NXDOMAIN: "does not exist (NXDOMAIN)",
            Status.SERVFAIL: "the DNS server answered SERVFAIL",
            Status.REFUSED: "the DNS server refused the query (REFUSED)",
            Status.TIMEOUT: "the DNS query timed out (no answer)",
            Status.CNAME_LOOP: "CNAME loop (or a chain too long to follow)",
            Status.MALFORMED: f"the DNS server sent a malformed answer ({self.error})",
            Status.REFERRAL: "the DNS server is not recursive: it answered with a referral",
            Status.ERROR: f"DNS error: {self.error}",
            Status.BADNAME: f"not a valid DNS name: {self.error}",
        }[self.status]


FAILED = frozenset({Status.SERVFAIL, Status.REFUSED, Status.TIMEOUT, Status.CNAME_LOOP, Status.MALFORMED,
                    Status.REFERRAL, Status.ERROR})
# Failures that say something about the resolver rather than the name asked (see run.resolver_finding).
RESOLVER_FAILURES = frozenset({Status.TIMEOUT, Status.REFUSED, Status.REFERRAL, Status.MALFORMED})


def fix_hint(lookup: Lookup) -> str:
    """What to do about a failed lookup: whose fault it is depends on the kind of failure."""
    return {
        Status.SERVFAIL: "The domain's name servers fail (broken delegation, DNSSEC, dead servers): fix them; "
                         "receivers answer 4xx meanwhile.",
        Status.REFUSED: "The DNS server refused: if it is your --resolver, use a recursive resolver for this name.",
        Status.REFERRAL: "Your --resolver is an authoritative server, not a recursive resolver: use a recursive one.",
        Status.TIMEOUT: "No answer in time: check that the resolver and the domain's name servers are reachable.",
        Status.MALFORMED: "The DNS server answers garbage: fix or replace it (a middlebox may mangle DNS).",
        Status.CNAME_LOOP: "Break the CNAME loop: each alias must end at a name with records.",
    }.get(lookup.status, "Fix the DNS servers; receivers answer 4xx (temperror) meanwhile.")
