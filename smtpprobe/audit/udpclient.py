"""DNS over UDP for many concurrent queries: a few long-lived sockets instead of one socket per query.

dnspython's async resolver opens, connects and closes a socket for every query and builds and parses
every message in full; with thousands of queries a second (bulk audits) that costs more CPU than the rest
of the audit. Here a small pool of sockets (one event loop's) carries every query, the query's wire form is
built directly, each answer is matched to its query by ID and question and handed back as bytes
(interpret.py reads it). Truncated answers are asked again over TCP. An answer that does not parse is
reported as such (MALFORMED), not waited out as a timeout.

Security trade-off: a query's source port is one of POOL random ports rather than a fresh one, so an
off-path spoofer has 16 bits of ID times POOL ports to guess, not 32 bits. Answers must also echo the
question. Acceptable for an audit tool on a trusted path to its resolver; see docs/audit.md.
"""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import dns.exception

from smtpprobe.audit import dnswire

POOL = 8


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

    async def query(self, qname: bytes, rdtype: int, lifetime: float) -> bytes:
        """The server's answer to `qname` (wire form, lower-case) / `rdtype`, with RD and AD set (RFC 6840
        §5.7: a validating resolver says whether it validated); dns.exception.Timeout when none came within
        `lifetime`; Malformed when what came is not an answer to it."""
        pool = await self._pool()
        sock = pool[_ids.take() % len(pool)]
        question = qname + struct.pack("!HH", rdtype, 1)
        while (qid := _ids.take()) in sock.waiting:
            pass
        # header (RD and AD set, one question, one additional: EDNS0 OPT with a 1232-byte payload)
        wire = struct.pack("!HHHHHH", qid, dnswire.RD | dnswire.AD, 1, 0, 0, 1) + question + _OPT
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
        flags = int.from_bytes(data[2:4], "big")
        if not flags & dnswire.QR or data[12 : 12 + len(question)].lower() != question:
            try:  # not an answer to this question: say why if it does not even parse
                dnswire.Message(data)
            except dnswire.Malformed as exc:
                raise Malformed(str(exc)) from None
            raise Malformed("an answer to another question")
        if flags & dnswire.TC:  # truncated: ask again over TCP (RFC 7766 §5)
            return await self._tcp(wire, max(deadline - loop.time(), 0.1))
        return data

    async def _tcp(self, wire: bytes, timeout: float) -> bytes:
        async def ask() -> bytes:
            reader, writer = await asyncio.open_connection(*self.server)
            try:
                writer.write(len(wire).to_bytes(2, "big") + wire)
                size = int.from_bytes(await reader.readexactly(2), "big")
                return await reader.readexactly(size)
            finally:
                writer.close()

        try:
            return await asyncio.wait_for(ask(), timeout)
        except TimeoutError:
            raise dns.exception.Timeout(timeout=timeout) from None
        except asyncio.IncompleteReadError:
            raise Malformed("the TCP answer ends early") from None


def _expire(fut: asyncio.Future[bytes | None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Entropy:
    """Query IDs and socket choices from a buffer of os.urandom refilled 4 KiB at a time: as unpredictable
    as a call per ID (RFC 5452 §9.2), without a system call per query."""

    def __init__(self) -> None:
        self._buf, self._at = b"", 0

    def take(self) -> int:
        if self._at + 2 > len(self._buf):
            self._buf, self._at = os.urandom(4096), 0
        self._at += 2
        return int.from_bytes(self._buf[self._at - 2 : self._at], "big")


_ids = _Entropy()
_OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
