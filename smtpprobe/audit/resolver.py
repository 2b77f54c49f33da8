"""The one resolver of an audit: every DNS query (ours, pyspf's, dkimpy's) goes through it.

Queries are bounded by `timeout`, de-duplicated (a name asked twice, even concurrently, is sent once)
and classified so that callers never confuse "no record" with "could not ask":
OK, NODATA, NXDOMAIN (void); SERVFAIL, REFUSED, TIMEOUT, CNAME_LOOP, MALFORMED, REFERRAL, ERROR (the answer
is unknown); BADNAME (not a DNS name).

With one DNS server (always with --resolver), queries go through udpclient.UdpClient: a few long-lived
sockets instead of dnspython's socket per query (the CPU that bulk audits spend), answers read here as
dnspython's resolver reads them (_interpret), and an unparseable answer is MALFORMED at once. With several
servers from /etc/resolv.conf, dnspython's resolver rotates through them; it reports a server that sends
garbage as a timeout (it ignores unparseable datagrams), so after a timeout the question is asked once
more, raw, to tell the two apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from smtpprobe.audit.findings import AuditError, BadInput


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


def parse_resolver(text: str) -> tuple[str, int]:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address -> (ip, port)."""
    host, port = text.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise BadInput(f"--resolver: expected [IPv6]:PORT, got {text!r}")
            port = rest[1:]
    elif host.count(":") == 1:
        host, port = host.split(":")
    try:
        ip = str(ipaddress.ip_address(host))
        number = int(port)
    except ValueError:
        raise BadInput(f"--resolver: expected IP[:PORT], got {text!r}") from None
    if not 0 < number < 65536:
        raise BadInput(f"--resolver: port out of range in {text!r}")
    return ip, number


def _convert(rdtype: str, rrset: Any) -> tuple[Any, ...]:
    out: list[Any] = []
    for rd in rrset:
        if rdtype == "TXT":
            out.append(tuple(rd.strings))
        elif rdtype in ("A", "AAAA"):
            out.append(rd.address)
        elif rdtype == "MX":
            out.append((rd.preference, rd.exchange.to_text(True).lower()))
        elif rdtype == "PTR":
            out.append(rd.target.to_text(True).lower())
        else:
            out.append(rd.to_text())
    return tuple(out)


class Resolver:
    def __init__(self, nameserver: str | None = None, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.queries = 0  # sent to the server (cache hits not counted)
        self._done: dict[tuple[str, str], Lookup] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[Lookup]] = {}
        self._lock = threading.Lock()
        self._garbage: str | None = None  # what a raw probe found after a timeout; None: not probed
        self._probe: asyncio.Future[str] | None = None
        self._client: Any = None  # udpclient.UdpClient, shared by forks
        self._async = dns.asyncresolver.Resolver(configure=nameserver is None)
        self._sync = dns.resolver.Resolver(configure=nameserver is None)
        self._configure(nameserver, timeout)

    def fork(self) -> Resolver:
        """A resolver with an empty cache and counters, sharing this one's configuration (bulk audits: one
        per domain, so memory does not grow with the list)."""
        new = Resolver.__new__(Resolver)
        new.timeout, new.queries = self.timeout, 0
        new._done, new._pending, new._lock = {}, {}, threading.Lock()
        new._garbage, new._probe = self._garbage, None
        new._async, new._sync = self._async, self._sync
        if self._client is None and len(self._async.nameservers) == 1:
            from smtpprobe.audit.udpclient import UdpClient

            self._client = UdpClient((str(self._async.nameservers[0]), self._async.port), self._async.timeout)
        new._client = self._client
        return new

    def _configure(self, nameserver: str | None, timeout: float) -> None:
        for r in (self._async, self._sync):
            if nameserver is not None:
                ip, port = parse_resolver(nameserver)
                r.nameservers = [ip]
                r.port = port
            elif not r.nameservers:
                raise AuditError("no DNS resolver configured; pass --resolver IP[:PORT]")
            r.timeout = max(timeout / 3, 0.1)  # per try: a lost UDP packet is retried within the lifetime
            r.lifetime = timeout  # whole query, retries included
            r.retry_servfail = False
            r.cache = None

    @staticmethod
    def _key(name: str, rdtype: str) -> tuple[str, str]:
        return name.rstrip(".").lower(), rdtype.upper()

    @staticmethod
    def _classify(name: str, rdtype: str, exc: BaseException | None, answer: Any = None) -> Lookup:
        if exc is None:
            if answer is None or answer.rrset is None:
                response = getattr(answer, "response", None)
                if response is not None and _is_referral(response):
                    return Lookup(name, rdtype, Status.REFERRAL)
                return Lookup(name, rdtype, Status.NODATA)
            return Lookup(name, rdtype, Status.OK, _convert(rdtype, answer.rrset))
        if isinstance(exc, dns.resolver.NXDOMAIN):
            return Lookup(name, rdtype, Status.NXDOMAIN)
        if isinstance(exc, dns.resolver.NoAnswer):
            return Lookup(name, rdtype, Status.NODATA)
        if isinstance(exc, dns.resolver.NoNameservers):
            return _classify_server_errors(name, rdtype, exc)
        if isinstance(exc, dns.exception.Timeout):
            return Lookup(name, rdtype, Status.TIMEOUT, error=str(exc))
        if isinstance(exc, (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel,
                            dns.name.BadEscape, UnicodeError, ValueError)):
            return Lookup(name, rdtype, Status.BADNAME, error=str(exc) or type(exc).__name__)
        return Lookup(name, rdtype, Status.ERROR, error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Closes the pooled sockets; call on the event loop that used them, before it ends."""
        if self._client is not None:
            self._client.close()

    def answered(self) -> list[Lookup]:
        with self._lock:
            return list(self._done.values())

    async def lookup(self, name: str, rdtype: str) -> Lookup:
        key = self._key(name, rdtype)
        if key in self._done:
            return self._done[key]
        if key in self._pending:
            return await asyncio.shield(self._pending[key])
        fut: asyncio.Future[Lookup] = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        try:
            result = await self._ask_async(*key)
        except BaseException:  # cancelled: let waiters ask again
            del self._pending[key]
            fut.cancel()
            raise
        with self._lock:
            self._done[key] = result
        del self._pending[key]
        fut.set_result(result)
        return result

    async def _ask_async(self, name: str, rdtype: str) -> Lookup:
        self.queries += 1
        if len(self._async.nameservers) == 1:
            return await self._ask_pooled(name, rdtype)
        try:
            qname = dns.name.from_text(name)
            # asyncio.wait_for: a second bound in case a server trickles back truncated answers
            answer = await asyncio.wait_for(
                self._async.resolve(qname, rdtype, search=False, raise_on_no_answer=False),
                self.timeout + 1,
            )
        except TimeoutError:
            return await self._diagnose(Lookup(name, rdtype, Status.TIMEOUT, error="timed out"))
        except Exception as exc:  # noqa: BLE001 - classified below; nothing escapes as a traceback
            return await self._diagnose(self._classify(name, rdtype, exc))
        return self._classify(name, rdtype, None, answer)

    async def _ask_pooled(self, name: str, rdtype: str) -> Lookup:
        """One server: queries share a few sockets (udpclient), answers classified like dnspython's."""
        from smtpprobe.audit.udpclient import Malformed, UdpClient

        if self._client is None:
            self._client = UdpClient((str(self._async.nameservers[0]), self._async.port), self._async.timeout)
        try:
            qname = dns.name.from_text(name)
            response = await self._client.query(qname, rdtype, self.timeout)
        except Malformed as exc:
            return Lookup(name, rdtype, Status.MALFORMED, error=str(exc))
        except dns.exception.Timeout:
            return Lookup(name, rdtype, Status.TIMEOUT, error="timed out")
        except Exception as exc:  # noqa: BLE001 - classified; nothing escapes as a traceback
            return self._classify(name, rdtype, exc)
        return _interpret_answer(name, rdtype, qname, response)

    async def _diagnose(self, lookup: Lookup) -> Lookup:
        """A timeout may be a server answering garbage: ask once more, raw (once per resolver)."""
        if lookup.status != Status.TIMEOUT:
            return lookup
        if self._garbage is None:
            if self._probe is None:
                self._probe = asyncio.ensure_future(self._raw_probe(lookup.name, lookup.rdtype))
            self._garbage = await asyncio.shield(self._probe)
        if self._garbage:
            return Lookup(lookup.name, lookup.rdtype, Status.MALFORMED, error=self._garbage)
        return lookup

    async def _raw_probe(self, name: str, rdtype: str) -> str:
        """'' when the server stays silent, else what was wrong with what it sent."""
        import dns.asyncquery
        import dns.message

        query = dns.message.make_query(name, rdtype)
        try:
            await dns.asyncquery.udp(query, self._async.nameservers[0], timeout=min(self.timeout, 2.0),
                                     port=self._async.port, ignore_unexpected=True, ignore_errors=False)
        except dns.exception.Timeout:
            return ""
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is not a DNS answer
            return f"{type(exc).__name__}: {exc}"[:120]
        return ""  # a proper answer this time: a lost packet, not garbage

    def lookup_sync(self, name: str, rdtype: str) -> Lookup:
        """For pyspf and dkimpy, which run in worker threads; shares the cache with `lookup`."""
        key = self._key(name, rdtype)
        with self._lock:
            if key in self._done:
                return self._done[key]
        self.queries += 1
        try:
            answer = self._sync.resolve(dns.name.from_text(key[0]), key[1], search=False,
                                        raise_on_no_answer=False)
            result = self._classify(*key, None, answer)
        except Exception as exc:  # noqa: BLE001
            result = self._classify(*key, exc)
        if result.status == Status.TIMEOUT and self._garbage:
            result = Lookup(result.name, result.rdtype, Status.MALFORMED, error=self._garbage)
        with self._lock:
            self._done[key] = result
        return result


def _is_referral(response: Any) -> bool:
    """NOERROR, no answer, not authoritative, NS records in the authority section: a delegation handed to a
    stub resolver by a server that does not recurse."""
    import dns.flags

    return (not response.answer and not response.flags & dns.flags.AA
            and any(rrset.rdtype == dns.rdatatype.NS for rrset in response.authority))


def _classify_server_errors(name: str, rdtype: str, exc: Any) -> Lookup:
    """NoNameservers carries each server's answer: name what went wrong."""
    import dns.message
    import dns.rcode

    for _server, _tcp, _port, err, response in exc.kwargs.get("errors") or []:
        if isinstance(err, dns.message.ChainTooLong):
            return Lookup(name, rdtype, Status.CNAME_LOOP, error=str(err), chain=_cname_chain(response))
        if response is not None and response.rcode() == dns.rcode.REFUSED:
            return Lookup(name, rdtype, Status.REFUSED)
        if response is not None and response.rcode() == dns.rcode.SERVFAIL:
            return Lookup(name, rdtype, Status.SERVFAIL)
        if isinstance(err, dns.exception.FormError):
            return Lookup(name, rdtype, Status.MALFORMED, error=str(err))
    return Lookup(name, rdtype, Status.SERVFAIL, error=str(exc))


def _cname_chain(response: Any) -> tuple[Any, ...]:
    """The CNAME records of a looping answer as (owner, target) pairs."""
    if response is None:
        return ()
    return tuple((rrset.name.to_text(True).lower(), rd.target.to_text(True).lower())
                 for rrset in response.answer if rrset.rdtype == dns.rdatatype.CNAME for rd in rrset)


def _rdatas(response: Any, owner: Any, rdtype: Any) -> list[Any]:
    """Every IN rdata of `owner`/`rdtype` in the answer section, parsed one RR per RRset or not."""
    import dns.rdataclass

    return [rd for rrset in response.answer if rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN
            and rrset.name == owner for rd in rrset]


def _interpret_answer(name: str, rdtype: str, qname: Any, answer: Any) -> Lookup:
    """A udpclient.Answer: from the header alone when it says enough, else parsed and read by _interpret."""
    import dns.rcode

    from smtpprobe.audit.udpclient import Malformed

    rcode = answer.rcode
    if rcode == dns.rcode.NXDOMAIN and answer.ancount == 0:
        return Lookup(name, rdtype, Status.NXDOMAIN)
    if rcode == dns.rcode.SERVFAIL:
        return Lookup(name, rdtype, Status.SERVFAIL)
    if rcode == dns.rcode.REFUSED:
        return Lookup(name, rdtype, Status.REFUSED)
    if rcode == dns.rcode.NOERROR and answer.ancount == 0 and (answer.authoritative or answer.nscount == 0):
        return Lookup(name, rdtype, Status.NODATA)  # not a referral: that needs a non-authoritative NS set
    try:
        response = answer.message()
    except Malformed as exc:
        return Lookup(name, rdtype, Status.MALFORMED, error=str(exc))
    return _interpret(name, rdtype, qname, response)


def _interpret(name: str, rdtype: str, qname: Any, response: Any) -> Lookup:
    """An answer as dnspython's resolver reads it: the rcode, then the CNAME chain inside the answer."""
    import dns.rcode
    import dns.rdataclass

    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return Lookup(name, rdtype, Status.NXDOMAIN)
    if rcode == dns.rcode.SERVFAIL:
        return Lookup(name, rdtype, Status.SERVFAIL)
    if rcode == dns.rcode.REFUSED:
        return Lookup(name, rdtype, Status.REFUSED)
    if rcode != dns.rcode.NOERROR:
        return Lookup(name, rdtype, Status.ERROR, error=f"the DNS server answered {dns.rcode.to_text(rcode)}")
    want = dns.rdatatype.from_text(rdtype)
    current, seen = qname, {qname}
    for _ in range(16):
        found = _rdatas(response, current, want)
        if found:
            return Lookup(name, rdtype, Status.OK, _convert(rdtype, found))
        alias = _rdatas(response, current, dns.rdatatype.CNAME)
        if not alias:
            break
        current = alias[0].target
        if current in seen:
            return Lookup(name, rdtype, Status.CNAME_LOOP, error="CNAME loop", chain=_cname_chain(response))
        seen.add(current)
    else:
        return Lookup(name, rdtype, Status.CNAME_LOOP, error="CNAME chain too long", chain=_cname_chain(response))
    if _is_referral(response):
        return Lookup(name, rdtype, Status.REFERRAL)
    return Lookup(name, rdtype, Status.NODATA)
