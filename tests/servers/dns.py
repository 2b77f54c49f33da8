"""A real authoritative DNS server (NSD) on 127.0.0.1:<free port>, serving tests/zones/*.zone.

Besides the zone files it serves `servfail.test` as a secondary zone whose primary does not exist:
NSD answers SERVFAIL for it (a real SERVFAIL, not a mock). `dead_dns` is a UDP socket that never
answers: every query to it times out. `referral_dns` is a second NSD serving only a root zone that
delegates `test.` elsewhere: an authoritative, non-recursive server that answers every question about
`*.test` with a referral. `garbage_dns` is the one purpose-built hostile server: a UDP responder that
answers each query with its ID followed by bytes that are no DNS message (no real server does that on
purpose; middleboxes and broken forwarders do).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers._common import free_port, unavailable

ZONES = Path(__file__).parent.parent / "zones"
SERVFAIL_ZONE = "servfail.test"


@dataclass
class DnsServer:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _config(workdir: Path, port: int, dead_primary: int, zones: list[tuple[str, Path]],
            servfail: list[str]) -> str:
    lines = [
        "server:",
        "  ip-address: 127.0.0.1",
        f"  port: {port}",
        '  username: ""',
        '  chroot: ""',
        f'  zonesdir: "{workdir}"',
        '  database: ""',
        f'  pidfile: "{workdir}/nsd.pid"',
        f'  logfile: "{workdir}/nsd.log"',
        f'  xfrdfile: "{workdir}/xfrd.state"',
        f'  zonelistfile: "{workdir}/zone.list"',
        "  server-count: 1",
        "  tcp-count: 64",
        "  verbosity: 1",
        # response rate limiting would drop part of an audit's burst of concurrent queries from 127.0.0.1
        "  rrl-ratelimit: 0",
        "  rrl-whitelist-ratelimit: 0",
        "remote-control:",
        "  control-enable: no",
    ]
    for name, path in zones:
        lines += ["zone:", f'  name: "{name}"', f'  zonefile: "{path}"']
    for name in servfail:  # secondary zones whose primary never answers: NSD says SERVFAIL
        lines += ["zone:", f'  name: "{name}"', f'  zonefile: "{workdir}/{name}.sf.zone"',
                  f"  request-xfr: 127.0.0.1@{dead_primary} NOKEY"]
    return "\n".join(lines) + "\n"


def _ready(port: int, probe: str, deadline: float) -> bool:
    import dns.message
    import dns.query

    while time.monotonic() < deadline:
        try:
            dns.query.udp(dns.message.make_query(probe, "SOA"), "127.0.0.1", timeout=0.3, port=port)
            return True
        except Exception:  # noqa: BLE001
            time.sleep(0.05)
    return False


def start_nsd(workdir: Path, zones: list[tuple[str, Path]], servfail: list[str],
              probe: str) -> tuple[subprocess.Popen[bytes], DnsServer]:
    """An NSD serving `zones` (name, file) and answering SERVFAIL for the `servfail` zones; skips (fails
    under CI) when NSD is missing or does not start. The caller stops it with stop_nsd()."""
    nsd = shutil.which("nsd") or ("/usr/sbin/nsd" if Path("/usr/sbin/nsd").exists() else None)
    if nsd is None:
        unavailable("nsd is not installed (scripts/install-system-deps)")
    for _attempt in range(3):  # the free port may be taken by someone else between probe and bind
        port = free_port()
        conf = workdir / "nsd.conf"
        conf.write_text(_config(workdir, port, free_port(), zones, servfail))
        proc = subprocess.Popen([nsd, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if _ready(port, probe, time.monotonic() + 10) and proc.poll() is None:
            return proc, DnsServer("127.0.0.1", port)
        proc.kill()
        proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()
    log = (workdir / "nsd.log").read_text() if (workdir / "nsd.log").exists() else ""
    unavailable(f"nsd did not start: {log[-500:]}")
    raise AssertionError("unreachable")


def stop_nsd(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    if proc.stderr is not None:
        proc.stderr.close()


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    workdir = tmp_path_factory.mktemp("nsd")
    zones = [(z.name[: -len(".zone")], z) for z in sorted(ZONES.glob("*.zone"))]
    proc, server = start_nsd(workdir, zones, [SERVFAIL_ZONE], "good.test")
    try:
        yield server
    finally:
        stop_nsd(proc)


@pytest.fixture(scope="session")
def spf_suite_dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DnsServer]]:
    """The SPF test suites' zonedata (tests/servers/_spfsuite.py explains the renaming), each group of
    scenarios on its own NSD. Yields {group name: server}."""
    from tests.servers import _spfsuite

    running, out = [], {}
    try:
        for group in _spfsuite.load_groups():
            workdir = tmp_path_factory.mktemp(f"nsd-{group.name}")
            (workdir / "root.zone").write_text(group.zone)
            proc, server = start_nsd(workdir, [(".", workdir / "root.zone")], group.servfail_names, ".")
            running.append(proc)
            out[group.name] = server
        yield out
    finally:
        for proc in running:
            stop_nsd(proc)


@pytest.fixture(scope="session")
def referral_dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    workdir = tmp_path_factory.mktemp("nsd-referral")
    (workdir / "root.zone").write_text("$TTL 60\n. SOA ns. hostmaster. 1 3600 600 86400 60\n. NS ns.\n"
                                       "ns. A 127.0.0.1\ntest. NS ns.test-servers.invalid.\n")
    proc, server = start_nsd(workdir, [(".", workdir / "root.zone")], [], ".")
    try:
        yield server
    finally:
        stop_nsd(proc)


@pytest.fixture(scope="session")
def garbage_dns() -> Iterator[DnsServer]:
    """Answers every datagram with the query's ID, QR set, then garbage (hostile server, purpose-built)."""
    import threading

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                continue
            if len(data) >= 2:
                sock.sendto(data[:2] + b"\x81\x80\x00\x01garbage, not a DNS message", peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield DnsServer("127.0.0.1", sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@pytest.fixture(scope="session")
def dead_dns() -> Iterator[DnsServer]:
    """A DNS 'server' that receives queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield DnsServer("127.0.0.1", s.getsockname()[1])
