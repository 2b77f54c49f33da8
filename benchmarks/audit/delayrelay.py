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
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

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


class _Once(asyncio.DatagramProtocol):
    def __init__(self, answer: asyncio.Future[bytes]) -> None:
        self.answer = answer

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.answer.done():
            self.answer.set_result(data)


class UdpRelay(asyncio.DatagramProtocol):
    def __init__(self, upstream: tuple[str, int], half: float, label: str) -> None:
        self.upstream, self.half, self.label = upstream, half, label
        self.inflight = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        LOG.add(self.label, data)
        if self.inflight >= MAX_INFLIGHT:
            return
        self.inflight += 1
        asyncio.get_running_loop().create_task(self.relay(data, addr))

    async def relay(self, data: bytes, client: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(self.half)
            answer: asyncio.Future[bytes] = loop.create_future()
            up, _ = await loop.create_datagram_endpoint(lambda: _Once(answer), remote_addr=self.upstream)
            try:
                up.sendto(data)
                reply = await asyncio.wait_for(answer, UPSTREAM_TIMEOUT)
            finally:
                up.close()
            await asyncio.sleep(self.half)
            if self.transport is not None:
                self.transport.sendto(reply, client)
        except (TimeoutError, OSError):
            pass  # the client times out, as it would on a lossy link
        finally:
            self.inflight -= 1


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
        await loop.create_datagram_endpoint(lambda h=half, label=ip: UdpRelay(upstream, h, label),
                                            local_addr=(ip, int(lport)))
        servers.append(await asyncio.start_server(tcp_handler(upstream, half, ip), ip, int(lport)))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop
    LOG.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
