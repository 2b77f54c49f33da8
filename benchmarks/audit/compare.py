#!/usr/bin/env python3
"""Time `smtpprobe audit` against checkdmarc over a DNS link with a realistic round trip, pair by pair.

    sudo .venv/bin/python benchmarks/audit/compare.py --checkdmarc /path/to/venv/bin/checkdmarc \
        [--pairs 15] [--delay-ms 30]

Creates a private network namespace (only its own loopback: nothing it runs can reach another host),
starts NSD there on 127.0.0.2:53 with the zones in benchmarks/audit/zones/, and a relay
(delayrelay.py) on 127.0.0.1:53 that adds --delay-ms to every round trip, plus one on 127.0.0.3:53
that adds nothing. The kernel here has no netem (CONFIG_NET_SCH_NETEM is off), hence the relay.
Each pair runs both tools on the same zone, in alternating order, through the delayed relay and then
through the undelayed one; the relay counts the queries each run sent. The difference between the two
is the time spent waiting for the network, which we express in round trips. Prints figures only;
removes the namespace, its processes and its temporary files on any exit.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DOMAIN = "bench.test"
NSD_IP, DELAYED_IP, DIRECT_IP = "127.0.0.2", "127.0.0.1", "127.0.0.3"
# The longest chain of lookups that depend on each other in bench.test.zone: the SPF TXT records
# root -> _spf1 -> _spf1a -> _spf1b -> _spf1c -> _spf1d. Everything else is at most two deep.
CHAIN = 6
SELECTORS = ("s2048", "ed", "s1024", "rotated", "vendor")
RUN_TIMEOUT = 120


def smtpprobe_cmd(exe: str, resolver: str) -> list[str]:
    cmd = [exe, "audit", DOMAIN, "--ip", "198.51.100.25", "--helo", "out.bench.test", "--sender",
           "bounce@bench.test", "--dnsbl", "bl1.ext.test", "--dnsbl", "bl2.ext.test", "--resolver", resolver,
           "--format", "json"]
    for s in SELECTORS:
        cmd += ["--dkim-selector", s]
    return cmd


def checkdmarc_cmd(exe: str, resolver: str) -> list[str]:
    return [exe, DOMAIN, "-n", resolver]


# ---------------------------------------------------------------- outside the namespace

def outer(opts: argparse.Namespace, argv: list[str]) -> int:
    if os.geteuid() != 0:
        sys.exit("needs root (ip netns)")
    ns = f"smtpprobe-auditbench-{os.getpid()}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # the temporary directory is ours, not the inner process's: removed even if that one is killed
    with tempfile.TemporaryDirectory(prefix="auditbench-") as workdir:
        try:
            subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True, timeout=10)
            inner = subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--inside", "--workdir",
                                    workdir, *argv], check=False, timeout=opts.pairs * 60 + 120)
            return inner.returncode
        finally:
            _remove_namespace(ns)


def _remove_namespace(ns: str) -> None:
    """Ends what still runs in our namespace (only our own processes can be there), then deletes it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10,
                              check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            if not subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                  timeout=10, check=False).stdout.split():
                break
            time.sleep(0.1)
    subprocess.run(["ip", "netns", "del", ns], timeout=10, check=False)


# ---------------------------------------------------------------- inside the namespace

class Relay:
    """The delay relay as a child process; its log of queries is collected by a thread."""

    def __init__(self, delay_ms: float) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "delayrelay.py"), f"{NSD_IP}:53",
                                      f"{DELAYED_IP}:53:{delay_ms}", f"{DIRECT_IP}:53:0"],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready or self.proc.stdout.readline().strip() != "ready":
            _stop(self.proc)
            raise RuntimeError("the delay relay did not start")
        self.lines: list[tuple[float, str]] = []  # (monotonic time received, "QNAME QTYPE")
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.lock:
                parts = line.split()
                if len(parts) == 4:
                    self.lines.append((float(parts[1]), f"{parts[2]} {parts[3]}"))

    def take(self) -> list[tuple[float, str]]:
        """The queries relayed since the last call (waits until the log has been quiet for 100 ms)."""
        deadline = time.monotonic() + 2
        last = -1
        while time.monotonic() < deadline:
            with self.lock:
                n = len(self.lines)
            if n == last:
                break
            last = n
            time.sleep(0.1)
        with self.lock:
            out, self.lines = self.lines, []
        return out

    def stop(self) -> None:
        _stop(self.proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_nsd(workdir: Path) -> subprocess.Popen:
    nsd = shutil.which("nsd") or "/usr/sbin/nsd"
    lines = ["server:", f"  ip-address: {NSD_IP}", "  port: 53", '  username: ""', '  chroot: ""',
             f'  zonesdir: "{HERE / "zones"}"', '  database: ""', f'  pidfile: "{workdir}/nsd.pid"',
             f'  logfile: "{workdir}/nsd.log"', f'  xfrdfile: "{workdir}/xfrd.state"',
             f'  zonelistfile: "{workdir}/zone.list"', "  server-count: 1", "  verbosity: 1",
             "  rrl-ratelimit: 0", "  rrl-whitelist-ratelimit: 0", "remote-control:", "  control-enable: no"]
    for z in sorted((HERE / "zones").glob("*.zone")):
        lines += ["zone:", f"  name: {z.name[:-5]}", f'  zonefile: "{z}"']
    (workdir / "nsd.conf").write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([nsd, "-d", "-c", str(workdir / "nsd.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if rtt(NSD_IP, 1, deadline=time.monotonic() + 10) is None:
        _stop(proc)
        log = (workdir / "nsd.log").read_text() if (workdir / "nsd.log").exists() else ""
        raise RuntimeError(f"nsd did not start: {log[-400:]}")
    return proc


def rtt(server: str, count: int, deadline: float | None = None) -> float | None:
    """Median seconds of `count` sequential SOA queries (None if the server never answered)."""
    import dns.message
    import dns.query

    times: list[float] = []
    deadline = deadline or time.monotonic() + 30
    while len(times) < count and time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            dns.query.udp(dns.message.make_query(DOMAIN, "SOA"), server, timeout=1)
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.05)
            continue
        times.append(time.perf_counter() - started)
    return statistics.median(times) if times else None


def timed(cmd: list[str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    return time.perf_counter() - started, done.returncode, done.stdout


def check_outputs(smtpprobe_out: str, checkdmarc_out: str) -> list[str]:
    """Both tools must have audited the zone for real (not failed fast); returns what each found."""
    s = json.loads(smtpprobe_out)
    c = json.loads(checkdmarc_out)
    assert s["spf"]["result"] == "pass" and s["spf"]["lookups"] == 9, s["spf"]
    assert [d["status"] for d in s["dkim"]] == ["ok", "ok", "ok", "revoked", "ok"], s["dkim"]
    assert s["dmarc"]["policy"] == "reject", s["dmarc"]
    assert c["spf"]["valid"] and c["dmarc"]["valid"], (c["spf"], c["dmarc"])
    counts: dict[str, int] = {}
    for f in s["findings"]:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return [f"smtpprobe: SPF {s['spf']['lookups']} lookups, result {s['spf']['result']}; DKIM "
            + ", ".join(f"{d['selector']}={d['status']}" for d in s["dkim"])
            + f"; DMARC p={s['dmarc']['policy']}; {len(s['findings'])} findings {counts}",
            (f"checkdmarc: SPF valid={c['spf']['valid']} dns_lookups={c['spf'].get('dns_lookups')}; "
            f"DMARC valid={c['dmarc']['valid']}; sections: {', '.join(k for k in c if k not in ('domain', 'base_domain'))}")]


def show_queries(log: list[tuple[float, str]], extra: float) -> None:
    """Each query with when it was sent, in round trips after the first one: the dependency chain."""
    if not log:
        return
    start = log[0][0]
    seen: dict[str, int] = {}
    for at, q in log:
        seen[q] = seen.get(q, 0) + 1
    for at, q in log:
        print(f"    +{(at - start) * 1000:6.0f} ms  ({(at - start) / extra:4.1f} RTT)  {q}")
    dups = {q: n for q, n in seen.items() if n > 1}
    print(f"    {len(log)} queries, {len(seen)} distinct" + (f"; asked more than once: {dups}" if dups else ""))


def inside(opts: argparse.Namespace) -> int:
    tools = {"smtpprobe": lambda ip: smtpprobe_cmd(opts.smtpprobe, ip),
             "checkdmarc": lambda ip: checkdmarc_cmd(opts.checkdmarc, ip)}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below runs
    nsd = start_nsd(Path(opts.workdir))
    relay = None
    try:
        relay = Relay(opts.delay_ms)
        base_rtt, delayed_rtt = rtt(DIRECT_IP, 20), rtt(DELAYED_IP, 20)
        assert base_rtt is not None and delayed_rtt is not None, "the relay does not answer"
        extra = delayed_rtt - base_rtt
        relay.take()
        print(f"round trip via the relay: {delayed_rtt * 1000:.1f} ms delayed, {base_rtt * 1000:.2f} ms "
              f"undelayed (added: {extra * 1000:.1f} ms); {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
        # warm-up (page cache, .pyc) and a check that both tools really audited the zone
        outs = {}
        for name, cmd in tools.items():
            _, code, outs[name] = timed(cmd(DELAYED_IP))
            print(f"  {' '.join(cmd(DELAYED_IP))}  (exit {code})")
            if opts.show_queries:
                show_queries(relay.take(), extra)
        for line in check_outputs(outs["smtpprobe"], outs["checkdmarc"]):
            print("  " + line)
        relay.take()

        rows: list[dict[str, float]] = []
        queries: dict[str, set[int]] = {n: set() for n in tools}
        print(f"\n{'pair':>4}  {'smtpprobe':>10} {'checkdmarc':>10} {'ratio':>6}   "
              f"{'no delay: smtpprobe':>19} {'checkdmarc':>10}")
        for pair in range(1, opts.pairs + 1):
            row: dict[str, float] = {}
            order = list(tools) if pair % 2 else list(reversed(tools))
            for ip, suffix in ((DELAYED_IP, ""), (DIRECT_IP, "/0")):
                for name in order:
                    row[name + suffix], _, _ = timed(tools[name](ip))
                    queries[name].add(len(relay.take()))
            rows.append(row)
            print(f"{pair:>4}  {row['smtpprobe'] * 1000:>8.0f}ms {row['checkdmarc'] * 1000:>8.0f}ms "
                  f"{row['smtpprobe'] / row['checkdmarc']:>6.2f}   {row['smtpprobe/0'] * 1000:>17.0f}ms "
                  f"{row['checkdmarc/0'] * 1000:>8.0f}ms")

        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        ratio = statistics.median(r["smtpprobe"] / r["checkdmarc"] for r in rows)
        print(f" med  {med['smtpprobe'] * 1000:>8.0f}ms {med['checkdmarc'] * 1000:>8.0f}ms {ratio:>6.2f}   "
              f"{med['smtpprobe/0'] * 1000:>17.0f}ms {med['checkdmarc/0'] * 1000:>8.0f}ms")
        print(f"\nmedian ratio smtpprobe/checkdmarc with a {extra * 1000:.0f} ms round trip: {ratio:.2f} "
              f"(goal <= 0.5) -> {'met' if ratio <= 0.5 else 'MISSED'}")
        for name in tools:
            waited = med[name] - med[name + "/0"]
            q = "/".join(str(n) for n in sorted(queries[name]))
            print(f"{name}: {q} queries per run; waiting for DNS (median with delay - without): "
                  f"{waited * 1000:.0f} ms = {waited / extra:.1f} round trips")
        print(f"the longest chain of dependent lookups in the zone: {CHAIN} round trips")
    finally:
        if relay is not None:
            relay.stop()
        _stop(nsd)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=15, choices=range(1, 201), metavar="N")
    ap.add_argument("--delay-ms", type=float, default=30.0, help="added round-trip time (default 30)")
    ap.add_argument("--checkdmarc", default=shutil.which("checkdmarc"), help="checkdmarc executable")
    ap.add_argument("--smtpprobe", default=str(ROOT / ".venv" / "bin" / "smtpprobe"), help="smtpprobe executable")
    ap.add_argument("--show-queries", action="store_true", help="list each tool's queries, with when they were sent")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    opts = ap.parse_args(argv)
    if not opts.checkdmarc or not Path(opts.checkdmarc).exists():
        sys.exit("checkdmarc not found: pip install checkdmarc into a venv and pass --checkdmarc PATH")
    if not 0 <= opts.delay_ms <= 1000:
        sys.exit("--delay-ms: 0 to 1000")
    return inside(opts) if opts.inside else outer(opts, argv)


if __name__ == "__main__":
    sys.exit(main())
