"""DANE and MTA-STS test bed, all real and on loopback: zones written by the test, some DNSSEC-signed with
ldns-signzone, served by NSD; a validating resolver (unbound, Debian's) that trusts the signed zones' keys
(and nothing else: names under no trust anchor come back without AD, i.e. insecure); an HTTPS server
(Python's http.server over real TLS) for MTA-STS policies.

``dnssec_bed(zones={"dane.test": "mx A 127.0.0.1\\n..."}, signed={"dane.test"})`` -> resolver "IP:PORT".
    Each zone gets an SOA and NS; records are written relative to the zone.
``https_policy_server(cert, key, body, content_type="text/plain")`` -> the loopback address it serves on:
    port 443 (MTA-STS has no port to choose, RFC 8461 §3.3) on a random free 127.x.y.z address, so tests
    running side by side never collide. Needs root (port 443), like the Postfix bed.
Without nsd, unbound or ldns-signzone (scripts/install-system-deps), or without root: unavailable().
"""

from __future__ import annotations

import datetime
import os
import random
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.servers._common import free_port, unavailable


def _need(*commands: str) -> dict[str, str]:
    found = {}
    for command in commands:
        path = shutil.which(command) or next(
            (p for p in (f"/usr/sbin/{command}", f"/usr/bin/{command}") if os.path.exists(p)), None
        )
        if path is None:
            unavailable(f"{command} is not installed (scripts/install-system-deps)")
        found[command] = path
    return found


def _zone_text(zone: str, records: str) -> str:
    return (
        f"$ORIGIN {zone}.\n$TTL 300\n@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 300\n"
        f"@ NS ns.{zone}.\nns A 127.0.0.1\n{records}\n"
    )


def _sign(zone: str, path: Path, workdir: Path, tools: dict[str, str]) -> str:
    """Sign the zone file in place (ECDSA P-256 KSK + ZSK); returns the KSK's DNSKEY record (trust anchor)."""
    keys = []
    for flags in (["-k"], []):
        out = subprocess.run(
            [tools["ldns-keygen"], "-a", "ECDSAP256SHA256", *flags, zone],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        keys.append(out.stdout.strip())
    yesterday = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).strftime("%Y%m%d")
    subprocess.run(
        [tools["ldns-signzone"], "-i", yesterday, "-f", str(path) + ".signed", str(path), *keys],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    os.replace(str(path) + ".signed", path)
    return (workdir / f"{keys[0]}.key").read_text()


def _ready(port: int, name: str, deadline: float) -> bool:
    import dns.message
    import dns.query

    while time.monotonic() < deadline:
        try:
            dns.query.udp(dns.message.make_query(name, "SOA"), "127.0.0.1", timeout=0.3, port=port)
            return True
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def dnssec_bed(tmp_path) -> Iterator:
    procs: list[subprocess.Popen] = []

    def start(zones: dict[str, str], signed: set[str] = frozenset()) -> str:  # type: ignore[assignment]
        tools = _need("nsd", "unbound", "ldns-keygen", "ldns-signzone")
        work = tmp_path / f"bed{len(procs)}"
        work.mkdir()
        anchors = []
        nsd_port, unbound_port = free_port(), free_port()
        nsd_conf = [
            "server:",
            "  ip-address: 127.0.0.1",
            f"  port: {nsd_port}",
            '  username: ""',
            '  chroot: ""',
            f'  zonesdir: "{work}"',
            '  database: ""',
            f'  pidfile: "{work}/nsd.pid"',
            f'  logfile: "{work}/nsd.log"',
            f'  xfrdfile: "{work}/xfrd.state"',
            f'  zonelistfile: "{work}/zone.list"',
            "  server-count: 1",
            "  verbosity: 1",
            "remote-control:",
            "  control-enable: no",
        ]
        unbound_conf = [
            "server:",
            "  interface: 127.0.0.1",
            f"  port: {unbound_port}",
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            f'  directory: "{work}"',
            f'  pidfile: "{work}/ub.pid"',
            "  use-syslog: no",
            f'  logfile: "{work}/unbound.log"',
            "  verbosity: 1",
            "  access-control: 127.0.0.0/8 allow",
            "  do-not-query-localhost: no",
            '  module-config: "validator iterator"',
            "  qname-minimisation: no",
            '  local-zone: "test." nodefault',
            "  val-log-level: 2",
            "  cache-max-ttl: 0",
            f'  trust-anchor-file: "{work}/anchors.key"',
        ]
        for zone, records in zones.items():
            path = work / f"{zone}.zone"
            path.write_text(_zone_text(zone, records))
            if zone in signed:
                anchors.append(_sign(zone, path, work, tools))
            nsd_conf += ["zone:", f"  name: {zone}", f'  zonefile: "{path}"']
            unbound_conf += [] if zone in signed else [f'  domain-insecure: "{zone}"']
        (work / "anchors.key").write_text("".join(anchors) or "; none\n")
        for zone in zones:
            unbound_conf += ["stub-zone:", f'  name: "{zone}"', f"  stub-addr: 127.0.0.1@{nsd_port}"]
        (work / "nsd.conf").write_text("\n".join(nsd_conf) + "\n")
        (work / "unbound.conf").write_text("\n".join(unbound_conf) + "\n")
        nsd = subprocess.Popen(
            [tools["nsd"], "-d", "-c", str(work / "nsd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(nsd)
        first = next(iter(zones))
        if not _ready(nsd_port, first, time.monotonic() + 10):
            pytest.fail(f"nsd did not start: {(work / 'nsd.log').read_text()[-800:]}", pytrace=False)
        unbound = subprocess.Popen(
            [tools["unbound"], "-d", "-c", str(work / "unbound.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(unbound)
        if not _ready(unbound_port, first, time.monotonic() + 10):
            log = (work / "unbound.log").read_text() if (work / "unbound.log").exists() else ""
            pytest.fail(f"unbound did not start: {log[-800:]}", pytrace=False)
        return f"127.0.0.1:{unbound_port}"

    yield start
    for proc in procs:
        _stop(proc)


def _free_loopback_443() -> str:
    """A 127.x.y.z address whose port 443 is free (MTA-STS policies are always fetched from port 443)."""
    for _ in range(50):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"
        with socket.socket() as s:
            try:
                s.bind((address, 443))
                return address
            except OSError:
                continue
    unavailable("no free 127.x.y.z:443 found")
    return ""


@pytest.fixture
def https_policy_server() -> Iterator:
    servers: list[ThreadingHTTPServer] = []

    def start(cert: Path, key: Path, body: str, content_type: str = "text/plain") -> str:
        if os.geteuid() != 0:
            unavailable("the MTA-STS HTTPS server binds port 443: needs root")
        payload = body.encode()

        class Policy(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                if self.path != "/.well-known/mta-sts.txt":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        address = _free_loopback_443()
        server = ThreadingHTTPServer((address, 443), Policy)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return address

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
