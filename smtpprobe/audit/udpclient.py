"""DNS over UDP for many concurrent queries: a few long-lived sockets instead of one socket per query.

dnspython's async resolver opens, connects and closes a socket for every query and builds and parses
every message in full; with thousands of queries a second (bulk audits) that costs more CPU than the rest
of the audit. Here a small pool of sockets (one event loop's) carries every query, the query's wire form is
built directly, each answer is matched to its query by ID and question, and an answer is parsed (by
dnspython) only when its records are needed: NXDOMAIN, SERVFAIL, REFUSED and a plain NODATA are read from
the header. Truncated answers are asked again over TCP with dnspython. An answer that does not parse is
reported as such (MALFORMED), not waited out as a timeout.

Security trade-off: a query's source port is one of POOL random ports rather than a fresh one, so an
off-path spoofer has 16 bits of ID times POOL ports to guess, not 32 bits. Answers must also echo the
question. Acceptable for an audit tool on a trusted path to its resolver; see docs/audit.md.
"""

from __future__ import annotations

import asyncio
import random
import struct
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

POOL = 8
_random = random.SystemRandom()


class Malformed(Exception):
    """The server answered with something that is not a DNS message for our query."""


class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[bytes | None]] = {}
        self.transport: Any = None
        self.garbage: str = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 12:
            return  # not even a header: cannot be matched to a query
        fut = self.waiting.get(int.from_bytes(data[:2], "big"))
        if fut is not None and not fut.done():
            fut.set_result(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like: retried
        pass


class UdpClient:
    def __init__(self, server: tuple[str, int], try_timeout: float) -> None:
        self.server = server
        self.try_timeout = try_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: list[_Socket] = []
        self._opening: asyncio.Lock | None = None

    async def _pool(self) -> list[_Socket]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (another asyncio.run): new sockets
            self._loop, self._sockets, self._opening = loop, [], asyncio.Lock()
        assert self._opening is not None
        async with self._opening:
            while len(self._sockets) < POOL:
                _transport, proto = await loop.create_datagram_endpoint(_Socket, remote_addr=self.server)
                self._sockets.append(proto)
        return self._sockets

    def close(self) -> None:
        """Closes the sockets (they belong to the running event loop; call before it ends)."""
        for sock in self._sockets:
            if sock.transport is not None:
                sock.transport.close()
        self._sockets = []

    async def query(self, qname: dns.name.Name, rdtype: str, lifetime: float) -> Answer:
        """The server's answer; dns.exception.Timeout when none came within `lifetime`; Malformed."""
        sock = _random.choice(await self._pool())
        question = qname.to_wire() + struct.pack("!HH", dns.rdatatype.from_text(rdtype), 1)
        while True:
            qid = _random.randrange(65536)
            if qid not in sock.waiting:
                break
        # header (RD set, one question, one additional: EDNS0 OPT with a 1232-byte payload), question, OPT
        wire = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + question + _OPT
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        try:
            while True:
                # one future per try, resolved by the answer or by a timer (no task per query: cheaper
                # than asyncio.wait_for when thousands of queries are in flight)
                fut: asyncio.Future[bytes | None] = loop.create_future()
                sock.waiting[qid] = fut
                wait = min(self.try_timeout, deadline - loop.time())
                if wait <= 0:
                    raise dns.exception.Timeout(timeout=lifetime)
                timer = loop.call_later(wait, _expire, fut)
                sock.transport.sendto(wire)
                try:
                    data = await fut
                finally:
                    timer.cancel()
                if data is not None:
                    break
        finally:
            sock.waiting.pop(qid, None)
        answer = Answer(data)
        if not (answer.flags & 0x8000) or data[12 : 12 + len(question)].lower() != question.lower():
            try:  # not an answer to this question: say why if it does not even parse
                dns.message.from_wire(data)
            except Exception as exc:  # noqa: BLE001 - any parse failure: the answer is garbage
                raise Malformed(f"{type(exc).__name__}: {exc}"[:120]) from None
            raise Malformed("an answer to another question")
        if answer.flags & 0x0200:  # TC: ask again over TCP
            request = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
            response = await dns.asyncquery.tcp(
                request, self.server[0], timeout=max(deadline - loop.time(), 0.1), port=self.server[1]
            )
            return Answer(response.to_wire())
        return answer


def _expire(fut: asyncio.Future[bytes | None]) -> None:
    if not fut.done():
        fut.set_result(None)


_OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)


class Answer:
    """A DNS answer read lazily: the header is enough for NXDOMAIN, SERVFAIL, REFUSED and most NODATA;
    dnspython parses the rest only when the records are needed."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        _id, self.flags, _qd, self.ancount, self.nscount, _ar = struct.unpack("!HHHHHH", wire[:12])

    @property
    def rcode(self) -> int:
        return self.flags & 0x000F

    @property
    def authoritative(self) -> bool:
        return bool(self.flags & 0x0400)

    def message(self) -> dns.message.Message:
        """Parsed one RR per RRset: skips dnspython's de-duplication (it hashes every rdata), the costliest
        part of parsing; callers gather the RRs of a name and type themselves."""
        try:
            return dns.message.from_wire(self.wire, one_rr_per_rrset=True)
        except Exception as exc:  # noqa: BLE001 - any parse failure: the answer is garbage
            raise Malformed(f"{type(exc).__name__}: {exc}"[:120]) from None
