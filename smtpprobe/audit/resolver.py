"""The one resolver of an audit: every DNS query (ours, pyspf's, dkimpy's) goes through it.

Queries are bounded by `timeout`, de-duplicated (a name asked twice, even concurrently, is sent once)
and classified so that callers never confuse "no record" with "could not ask":
OK, NODATA, NXDOMAIN (void), SERVFAIL, TIMEOUT, ERROR (temporary), BADNAME (not a DNS name).
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
    TIMEOUT = "timeout"
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

    @property
    def failed(self) -> bool:
        """SERVFAIL, timeout or another transport problem: the answer is unknown (temperror)."""
        return self.status in (Status.SERVFAIL, Status.TIMEOUT, Status.ERROR)

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
            Status.SERVFAIL: "the DNS server failed (SERVFAIL or REFUSED)",
            Status.TIMEOUT: "the DNS query timed out",
            Status.ERROR: f"DNS error: {self.error}",
            Status.BADNAME: f"not a valid DNS name: {self.error}",
        }[self.status]


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
        self._async = dns.asyncresolver.Resolver(configure=nameserver is None)
        self._sync = dns.resolver.Resolver(configure=nameserver is None)
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
                return Lookup(name, rdtype, Status.NODATA)
            return Lookup(name, rdtype, Status.OK, _convert(rdtype, answer.rrset))
        if isinstance(exc, dns.resolver.NXDOMAIN):
            return Lookup(name, rdtype, Status.NXDOMAIN)
        if isinstance(exc, dns.resolver.NoAnswer):
            return Lookup(name, rdtype, Status.NODATA)
        if isinstance(exc, dns.resolver.NoNameservers):
            return Lookup(name, rdtype, Status.SERVFAIL, error=str(exc))
        if isinstance(exc, dns.exception.Timeout):
            return Lookup(name, rdtype, Status.TIMEOUT, error=str(exc))
        if isinstance(exc, (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel,
                            dns.name.BadEscape, UnicodeError, ValueError)):
            return Lookup(name, rdtype, Status.BADNAME, error=str(exc) or type(exc).__name__)
        return Lookup(name, rdtype, Status.ERROR, error=f"{type(exc).__name__}: {exc}")

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
        try:
            qname = dns.name.from_text(name)
            # asyncio.wait_for: a second bound in case a server trickles back truncated answers
            answer = await asyncio.wait_for(
                self._async.resolve(qname, rdtype, search=False, raise_on_no_answer=False),
                self.timeout + 1,
            )
        except TimeoutError:
            return Lookup(name, rdtype, Status.TIMEOUT, error="timed out")
        except Exception as exc:  # noqa: BLE001 - classified below; nothing escapes as a traceback
            return self._classify(name, rdtype, exc)
        return self._classify(name, rdtype, None, answer)

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
        with self._lock:
            self._done[key] = result
        return result
