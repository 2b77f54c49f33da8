#!/usr/bin/env python3
"""A DNS relay that adds a fixed delay each way: a stand-in for `tc qdisc ... netem delay`.

    delayrelay.py UPSTREAM_IP:PORT LISTEN_IP:PORT:DELAY_MS [LISTEN_IP:PORT:DELAY_MS ...]

Every UDP datagram and TCP chunk is held DELAY_MS/2 on the way to UPSTREAM and DELAY_MS/2 on the way
back, so a query's round trip grows by DELAY_MS; queries in flight do not wait for each other (as on a
real link). Each query received is written to stdout as `LISTEN_IP MONOTONIC_TIME QNAME QTYPE` (the
benchmark counts them; "? ?" for a malformed one); the lines are written in batches, at most FLUSH_EVERY
seconds after the query. Bounded: at most MAX_INFLIGHT UDP queries at once (more are dropped, as a full
link would), an upstream answer is awaited UPSTREAM_TIMEOUT seconds, an idle TCP connection is closed
after as long. Runs until SIGTERM or SIGINT.

Cheap, so as not to take CPU from the tool being measured: UDP queries go upstream through one socket
per listener, under query ids of the relay's own (mapped back to the client's on the way back), the
delays are timers, not a task per query, and the event loop is uvloop's when it is installed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable

MAX_INFLIGHT = 2000
UPSTREAM_TIMEOUT = 10.0
FLUSH_EVERY = 0.02  # compare.py's Relay.take() waits for 100 ms without a new line: well over this

# dnspython's names for the query types one meets; the others as RFC 3597 writes them
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
         35: "NAPTR", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 52: "TLSA", 64: "SVCB", 65: "HTTPS",
         99: "SPF", 255: "ANY", 257: "CAA"}
# label bytes written as they are; the others escaped as dnspython's to_text does
PLAIN = bytes(c for c in range(0x21, 0x7F) if c not in b'"().;\\@$')


def _label(raw: bytes) -> str:
    if not raw.translate(None, PLAIN):  # the usual case: nothing to escape
        return raw.decode("ascii")
    return "".join(chr(c) if c in PLAIN else f"\\{chr(c)}" if 0x20 < c < 0x7F else f"\\{c:03d}" for c in raw)


def describe(wire: bytes) -> str:
    """`QNAME QTYPE` of the query's question, read from the wire (no compression in a query's question)."""
    if len(wire) < 12 or wire[4:6] == b"\0\0":
        return "? ?"
    labels = []
    at = 12
    try:
        while n := wire[at]:
            if n > 63 or at + n + 1 > len(wire):  # a compression pointer or a cut label
                return "? ?"
            labels.append(_label(wire[at + 1 : at + n + 1]))
            at += n + 1
    except IndexError:
        return "? ?"
    if at - 11 > 255 or at + 5 > len(wire):  # the name too long, or no room for QTYPE and QCLASS
        return "? ?"
    qtype = int.from_bytes(wire[at + 1 : at + 3], "big")
    return f"{'.'.join(labels)}. {TYPES.get(qtype) or f'TYPE{qtype}'}"


class Log:
    """The per-query lines, written a batch at a time: a flush per query costs more than relaying it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, label: str, wire: bytes) -> None:
        if not self.lines:
            asyncio.get_running_loop().call_later(FLUSH_EVERY, self.flush)
        self.lines.append(f"{label} {time.monotonic():.4f} {describe(wire)}\n")

    def flush(self) -> None:
        sys.stdout.write("".join(self.lines))
        sys.stdout.flush()
        self.lines.clear()


LOG = Log()


class Upstream(asyncio.DatagramProtocol):
    """The one socket towards UPSTREAM of a listener: hands the answers back to it."""

    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.relay.answered(data)


class UdpRelay(asyncio.DatagramProtocol):
    def __init__(self, half: float, label: str) -> None:
        self.half, self.label = half, label
        self.loop = asyncio.get_running_loop()
        self.inflight = 0  # accepted and neither answered to the client nor forgotten
        # our query id -> (client, the client's query id, when to forget it), oldest first
        self.pending: dict[int, tuple[tuple[str, int], bytes, float]] = {}
        self.next_id = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: asyncio.DatagramTransport | None = None
        self.loop.call_later(1, self.forget)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def later(self, callback: Callable[..., object], *args: object) -> None:
        if self.half:  # not for an undelayed listener (compare.py's base line): no timer at all
            self.loop.call_later(self.half, callback, *args)
        else:
            callback(*args)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        LOG.add(self.label, data)
        if self.inflight >= MAX_INFLIGHT or len(data) < 12 or self.upstream is None:
            return  # too many in flight, or not a DNS message: its id could not be mapped back
        self.inflight += 1
        qid = self.next_id
        while qid in self.pending:  # wrapped round onto a query still waiting (only above 6,000 queries/s)
            qid = (qid + 1) & 0xFFFF
        self.next_id = (qid + 1) & 0xFFFF
        self.pending[qid] = (addr, data[:2], self.loop.time() + self.half + UPSTREAM_TIMEOUT)
        self.later(self.upstream.sendto, qid.to_bytes(2, "big") + data[2:])

    def answered(self, data: bytes) -> None:
        query = self.pending.pop(int.from_bytes(data[:2], "big"), None) if len(data) >= 12 else None
        if query is None:
            return  # forgotten already, answered twice, or junk
        client, client_id, _ = query
        self.later(self.deliver, client, client_id + data[2:])

    def deliver(self, client: tuple[str, int], answer: bytes) -> None:
        self.inflight -= 1
        if self.transport is not None:
            self.transport.sendto(answer, client)  # an OSError goes to error_received, which ignores it

    def forget(self) -> None:
        """Once a second: drops the queries upstream has not answered in time (the client times out)."""
        now = self.loop.time()
        late = []
        for qid, (_, _, deadline) in self.pending.items():  # in the order they came, so of their deadlines
            if deadline > now:
                break
            late.append(qid)
        for qid in late:
            del self.pending[qid]
        self.inflight -= len(late)
        self.loop.call_later(1, self.forget)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, half: float,
                label: str | None) -> None:
    """Copy reader -> writer, each chunk delivered `half` seconds after it arrived, in order."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=256)
    loop = asyncio.get_running_loop()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(chunk)
            await writer.drain()

    sender = loop.create_task(deliver())
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), UPSTREAM_TIMEOUT)
            if label and len(chunk) > 2:
                LOG.add(label, chunk[2:])  # a TCP DNS message follows its 2-byte length (usually one a chunk)
            await queue.put((loop.time() + half, chunk))
            if not chunk:
                break
        await sender
    finally:
        sender.cancel()
        writer.close()


def tcp_handler(upstream: tuple[str, int], half: float, label: str):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*upstream), UPSTREAM_TIMEOUT)
        except (OSError, TimeoutError):
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer, half, label), _pump(up_reader, writer, half, None),
                             return_exceptions=True)

    return handle


async def main(argv: list[str]) -> None:
    host, port = argv[0].rsplit(":", 1)
    upstream = (host, int(port))
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    servers = []
    for spec in argv[1:]:
        ip, lport, ms = spec.rsplit(":", 2)
        half = float(ms) / 2000
        relay = UdpRelay(half, ip)
        await loop.create_datagram_endpoint(lambda r=relay: r, local_addr=(ip, int(lport)))
        relay.upstream, _ = await loop.create_datagram_endpoint(lambda r=relay: Upstream(r),
                                                                remote_addr=upstream)
        servers.append(await asyncio.start_server(tcp_handler(upstream, half, ip), ip, int(lport)))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop
    LOG.flush()


if __name__ == "__main__":
    try:  # uvloop: about a third of the CPU time of asyncio's own loop per query here
        import uvloop
    except ImportError:
        asyncio.run(main(sys.argv[1:]))
    else:
        uvloop.run(main(sys.argv[1:]))
