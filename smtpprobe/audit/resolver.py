"""The one resolver of an audit: every DNS query (ours, pyspf's, dkimpy's) goes through it.

Queries are bounded by `timeout`, de-duplicated (a name asked twice, even concurrently, is sent once)
and classified (lookup.Lookup) so that callers never confuse "no record" with "could not ask". Every query
carries the AD bit (RFC 6840 §5.7), so a validating resolver says whether it validated the answer.

With one DNS server (always with --resolver), queries go through udpclient.UdpClient: a few long-lived
sockets instead of dnspython's socket per query (the CPU that bulk audits spend), answers read by
interpret.interpret as dnspython's resolver reads them, and an unparseable answer is MALFORMED at once. With several
servers from /etc/resolv.conf, dnspython's resolver rotates through them; it reports a server that sends
garbage as a timeout (it ignores unparseable datagrams), so after a timeout the question is asked once
more, raw, to tell the two apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.rdatatype
import dns.resolver

from smtpprobe.audit.findings import AuditError, BadInput
from smtpprobe.audit.lookup import FAILED, RESOLVER_FAILURES, Lookup, Status, fix_hint  # noqa: F401 - re-exported


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
    """dnspython's rdata as Lookup.records holds them (interpret.py reads the wire into the same values)."""
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
        self.address = nameserver  # as the user gave it (None: the system's); for code that asks on its own
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
        new.timeout, new.address, new.queries = self.timeout, self.address, 0
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
            r.flags = dns.flags.RD | dns.flags.AD

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
                return Lookup(name, rdtype, Status.NODATA, secure=_validated(response))
            return Lookup(name, rdtype, Status.OK, _convert(rdtype, answer.rrset), secure=_validated(answer.response))
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
        """One server: queries share a few sockets (udpclient), answers read by interpret (as dnspython's)."""
        from smtpprobe.audit.dnswire import name_wire
        from smtpprobe.audit.interpret import interpret
        from smtpprobe.audit.udpclient import Malformed, UdpClient

        if self._client is None:
            self._client = UdpClient((str(self._async.nameservers[0]), self._async.port), self._async.timeout)
        try:
            qname, want = name_wire(name), dns.rdatatype.from_text(rdtype)
            wire = await self._client.query(qname, want, self.timeout)
        except Malformed as exc:
            return Lookup(name, rdtype, Status.MALFORMED, error=str(exc))
        except dns.exception.Timeout:
            return Lookup(name, rdtype, Status.TIMEOUT, error="timed out")
        except Exception as exc:  # noqa: BLE001 - classified; nothing escapes as a traceback
            return self._classify(name, rdtype, exc)
        return interpret(name, rdtype, want, qname, wire)

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


def _validated(response: Any) -> bool:
    return response is not None and bool(response.flags & dns.flags.AD)


def _is_referral(response: Any) -> bool:
    """NOERROR, no answer, not authoritative, NS records in the authority section: a delegation handed to a
    stub resolver by a server that does not recurse."""
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
