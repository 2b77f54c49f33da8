#!/usr/bin/env python3
"""A DNS relay that adds a fixed delay each way: a stand-in for `tc qdisc ... netem delay`.

    delayrelay.py UPSTREAM_IP:PORT LISTEN_IP:PORT:DELAY_MS [LISTEN_IP:PORT:DELAY_MS ...]

Every UDP datagram and TCP chunk is held DELAY_MS/2 on the way to UPSTREAM and DELAY_MS/2 on the way
back, so a query's round trip grows by DELAY_MS; queries in flight do not wait for each other (as on a
real link). Each query received is written to stdout as `LISTEN_IP MONOTONIC_TIME QNAME QTYPE` (the benchmark counts
them). Bounded: at most MAX_INFLIGHT UDP queries at once (more are dropped, as a full link would), an
upstream answer is awaited UPSTREAM_TIMEOUT seconds, an idle TCP connection is closed after as long.
Runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import dns.message

MAX_INFLIGHT = 2000
UPSTREAM_TIMEOUT = 10.0


def describe(wire: bytes) -> str:
    try:
        q = dns.message.from_wire(wire).question[0]
        return f"{q.name.to_text()} {dns.rdatatype.to_text(q.rdtype)}"
    except Exception:  # noqa: BLE001 - a malformed query is relayed anyway
        return "? ?"


def log(label: str, wire: bytes) -> None:
    sys.stdout.write(f"{label} {time.monotonic():.4f} {describe(wire)}\n")
    sys.stdout.flush()


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
        log(self.label, data)
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
                log(label, chunk[2:])  # a TCP DNS message follows its 2-byte length (one per chunk, usually)
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


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
