"""DNS over UDP for many concurrent queries: a few long-lived sockets instead of one socket per query.

dnspython's async resolver opens, connects and closes a socket for every query; with thousands of queries
a second (bulk audits) that costs more CPU than the rest of the audit. Here a small pool of sockets (one
event loop's) carries every query, each answer is matched to its query by ID and question, and parsing
and classification stay dnspython's (`dns.message`). Truncated answers are asked again over TCP with
dnspython. An answer that does not parse is reported as such (MALFORMED), not waited out as a timeout.

Security trade-off: a query's source port is one of POOL random ports rather than a fresh one, so an
off-path spoofer has 16 bits of ID times POOL ports to guess, not 32 bits. Answers must also echo the
question. Acceptable for an audit tool on a trusted path to its resolver; see docs/audit.md.
"""

from __future__ import annotations

import asyncio
import random
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
        self.waiting: dict[int, asyncio.Future[bytes]] = {}
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

    async def query(self, qname: dns.name.Name, rdtype: str, lifetime: float) -> dns.message.Message:
        """The server's answer; dns.exception.Timeout when none came within `lifetime`; Malformed."""
        sock = _random.choice(await self._pool())
        request = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
        while True:
            request.id = _random.randrange(65536)
            if request.id not in sock.waiting:
                break
        wire = request.to_wire()
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        sock.waiting[request.id] = fut
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        try:
            while True:
                sock.transport.sendto(wire)
                wait = min(self.try_timeout, deadline - loop.time())
                if wait <= 0:
                    raise dns.exception.Timeout(timeout=lifetime)
                try:
                    data = await asyncio.wait_for(asyncio.shield(fut), wait)
                    break
                except TimeoutError:
                    if loop.time() >= deadline:
                        raise dns.exception.Timeout(timeout=lifetime) from None
        finally:
            sock.waiting.pop(request.id, None)
        try:
            # one RR per RRset: skips dnspython's de-duplication (it hashes every rdata), the costliest part
            # of parsing; _interpret gathers the RRs of a name and type itself
            response = dns.message.from_wire(data, one_rr_per_rrset=True)
        except Exception as exc:  # noqa: BLE001 - any parse failure: the answer is garbage
            raise Malformed(f"{type(exc).__name__}: {exc}"[:120]) from None
        if not request.is_response(response):
            raise Malformed("an answer to another question")
        if response.flags & dns.flags.TC:
            response = await dns.asyncquery.tcp(
                request, self.server[0], timeout=max(deadline - loop.time(), 0.1), port=self.server[1]
            )
        return response
