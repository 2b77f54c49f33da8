#!/usr/bin/env python3
"""Many domains in one call: `smtpprobe audit --from-file` through a DNS link with a realistic round trip.

    sudo .venv/bin/python benchmarks/audit/bulk.py zones --checkdmarc /path/to/venv/bin/checkdmarc [--pairs 7]
    sudo .venv/bin/python benchmarks/audit/bulk.py many [--domains 10000] [--concurrency 64] [--workers N] [--delay-ms 31]

Same private network namespace as compare.py (only its own loopback), NSD on 127.0.0.2:53 and the delay relay
(delayrelay.py) on 127.0.0.1:53. The zone `gen.test` is generated into the temporary directory: N domains
d0..dN-1.gen.test, each with an SPF record that includes a shared _spf.gen.test, a DMARC record, an Ed25519
DKIM key at selector1, an MX; the shared parts live in the same zone.

- `zones`: 13 domains audited in one `smtpprobe audit` call and in one `checkdmarc` process (it takes several
  domains), alternating, pair by pair; prints each pair and the median ratio.
- `many`: N domains (default 10,000) through `--from-file`; prints wall time, domains/s, peak RSS of the
  smtpprobe process (ru_maxrss) and the relay's query count; checks every line of output is a domain's report.

Prints figures only; removes the namespace, its processes and its temporary files on any exit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
sys.path.insert(0, str(HERE))
from compare import _remove_namespace, _stop, rtt  # the shared namespace plumbing

NSD_IP, DELAYED_IP = "127.0.0.2", "127.0.0.1"
ED_KEY = "XDrAz74dRhy5tlLmIFWKcc3/Mv1QsMZp940nvEZn1jM="


def gen_zone(n: int) -> str:
    lines = [
        "$ORIGIN gen.test.",
        "$TTL 300",
        "@ IN SOA ns.gen.test. hostmaster.gen.test. 1 3600 600 86400 300",
        "@ IN NS ns.gen.test.",
        "ns IN A 127.0.0.2",
        "mx IN A 192.0.2.10",
        '_spf IN TXT "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all"',
    ]
    for i in range(n):
        d = f"d{i}"
        lines += [
            f'{d} IN TXT "v=spf1 include:_spf.gen.test ip4:203.0.113.{i % 256} -all"',
            f"{d} IN MX 10 mx.gen.test.",
            f'_dmarc.{d} IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{d}.gen.test"',
            f'selector1._domainkey.{d} IN TXT "v=DKIM1; k=ed25519; p={ED_KEY}"',
        ]
    return "\n".join(lines) + "\n"


def start_nsd(workdir: Path, n: int) -> subprocess.Popen:
    (workdir / "gen.test.zone").write_text(gen_zone(n))
    test_zone = (
        "$ORIGIN test.\n$TTL 300\n@ IN SOA ns.gen.test. hostmaster.gen.test. 1 3600 600 86400 300\n"
        "@ IN NS ns.gen.test.\ngen IN NS ns.gen.test.\n"
    )
    (workdir / "test.zone").write_text(test_zone)
    lines = [
        "server:",
        f"  ip-address: {NSD_IP}",
        "  port: 53",
        '  username: ""',
        '  chroot: ""',
        f'  zonesdir: "{workdir}"',
        '  database: ""',
        f'  pidfile: "{workdir}/nsd.pid"',
        f'  logfile: "{workdir}/nsd.log"',
        f'  xfrdfile: "{workdir}/xfrd.state"',
        f'  zonelistfile: "{workdir}/zone.list"',
        "  server-count: 1",
        "  verbosity: 1",
        "  rrl-ratelimit: 0",
        "  rrl-whitelist-ratelimit: 0",
        "remote-control:",
        "  control-enable: no",
        "zone:",
        "  name: gen.test",
        f'  zonefile: "{workdir}/gen.test.zone"',
        "zone:",
        "  name: test",
        f'  zonefile: "{workdir}/test.zone"',
    ]
    (workdir / "nsd.conf").write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(
        [shutil.which("nsd") or "/usr/sbin/nsd", "-d", "-c", str(workdir / "nsd.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import dns.message
    import dns.query

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            dns.query.udp(dns.message.make_query("gen.test", "SOA"), NSD_IP, timeout=1)
            return proc
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    _stop(proc)
    raise RuntimeError("nsd did not start")


class CountingRelay:
    """delayrelay.py as a child; its per-query log is only counted."""

    def __init__(self, delay_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "delayrelay.py"), f"{NSD_IP}:53", f"{DELAYED_IP}:53:{delay_ms}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready or self.proc.stdout.readline().strip() != "ready":
            _stop(self.proc)
            raise RuntimeError("the delay relay did not start")
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for _line in self.proc.stdout:
            self.count += 1

    def stop(self) -> None:
        _stop(self.proc)


CPU = {"seconds": 0.0}  # CPU time (user + system) of the last run_timed child
TREE = {"peak_mb": 0.0}  # the largest sum of resident sets of that child and its children (--workers), sampled


def _tree_rss_kib(pid: int) -> int:
    """VmRSS of `pid` and of its children, in KiB (0 for a process that has gone)."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            total += sum(_tree_rss_kib(int(child)) for child in children.read().split())
    except (OSError, ValueError):
        pass
    return total


def run_timed(
    cmd: list[str], stdin_path: Path | None = None, timeout: float = 3600
) -> tuple[float, int, str, int]:
    """(seconds, exit code, stdout, peak RSS in KiB of this child); its CPU time goes to CPU["seconds"], the
    sampled peak of its whole process tree to TREE["peak_mb"]."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    with open(stdin_path or os.devnull) as stdin:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], _tree_rss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _err = proc.communicate(timeout=timeout)
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["seconds"] = usage.ru_utime + usage.ru_stime - cpu_before
    TREE["peak_mb"] = peak[0] / 1024
    top = usage.ru_maxrss
    return seconds, proc.returncode, out, top if top > before else -1


def inside(opts: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(opts.workdir)
    n = opts.domains if opts.mode == "many" else 13
    nsd = start_nsd(workdir, n)
    relay = None
    try:
        relay = CountingRelay(opts.delay_ms)
        delayed = rtt(DELAYED_IP, 10)
        assert delayed is not None, "the relay does not answer"
        print(
            f"round trip via the relay: {delayed * 1000:.1f} ms; {os.cpu_count()} CPUs; "
            f"load average {os.getloadavg()[0]:.1f}; Python {sys.version.split()[0]}"
        )
        listing = workdir / "domains.txt"
        listing.write_text("".join(f"d{i}.gen.test\n" for i in range(n)))
        smtpprobe = [
            opts.smtpprobe,
            "audit",
            "--from-file",
            "-",
            "--resolver",
            DELAYED_IP,
            "--concurrency",
            str(opts.concurrency),
        ] + (["--workers", str(opts.workers)] if opts.workers > 1 else []) + [a for s in opts.selector for a in ("--dkim-selector", s)]
        if opts.mode == "zones":
            return _zones(opts, smtpprobe, listing, relay)
        return _many(n, smtpprobe, listing, relay)
    finally:
        if relay is not None:
            relay.stop()
        _stop(nsd)


def _zones(opts: argparse.Namespace, smtpprobe: list[str], listing: Path, relay: CountingRelay) -> int:
    checkdmarc = [opts.checkdmarc, *(f"d{i}.gen.test" for i in range(13)), "-n", DELAYED_IP]
    print("  " + " ".join(smtpprobe) + " < domains.txt")
    print("  " + " ".join(checkdmarc))
    s_out = run_timed(smtpprobe, listing)[2]
    c_out = run_timed(checkdmarc)[2]
    reports = [json.loads(line) for line in s_out.splitlines()]
    assert len(reports) == 13 and all(r["dmarc"]["policy"] == "reject" for r in reports), s_out[:500]
    assert len(json.loads(c_out)) == 13, c_out[:500]
    rows = []
    print(f"\n{'pair':>4}  {'smtpprobe':>10} {'checkdmarc':>10} {'ratio':>6}")
    for pair in range(1, opts.pairs + 1):
        order = [("s", smtpprobe, listing), ("c", checkdmarc, None)]
        if pair % 2 == 0:
            order.reverse()
        row = {}
        for key, cmd, stdin in order:
            row[key] = run_timed(cmd, stdin)[0]
        rows.append(row)
        print(f"{pair:>4}  {row['s'] * 1000:>8.0f}ms {row['c'] * 1000:>8.0f}ms {row['s'] / row['c']:>6.2f}")
    med_s = statistics.median(r["s"] for r in rows)
    med_c = statistics.median(r["c"] for r in rows)
    ratio = statistics.median(r["s"] / r["c"] for r in rows)
    print(f" med  {med_s * 1000:>8.0f}ms {med_c * 1000:>8.0f}ms {ratio:>6.2f}")
    return 0


def _many(n: int, smtpprobe: list[str], listing: Path, relay: CountingRelay) -> int:
    print("  " + " ".join(smtpprobe) + f" < domains.txt  ({n} lines)")
    queries_before = relay.count
    seconds, code, out, peak_kib = run_timed(smtpprobe, listing)
    reports = [json.loads(line) for line in out.splitlines()]
    domains = {r["domain"] for r in reports}
    results: dict[str, int] = {}
    for r in reports:
        results[r["result"]] = results.get(r["result"], 0) + 1
    time.sleep(0.5)
    print(f"exit {code}; {len(reports)} lines, {len(domains)} distinct domains; results {results}")
    for r in [r for r in reports if r["result"] != "pass"][:5]:  # what went wrong, if anything
        errors = [f"{f['id']}: {f['message']}" for f in r.get("findings", []) if f["severity"] == "error"]
        print(f"  {r['domain']}: {r.get('error') or '; '.join(errors)[:300]}")
    cpu = CPU["seconds"]
    print(
        f"smtpprobe CPU time {cpu:.1f} s ({cpu / max(n, 1) * 1000:.1f} ms per domain: at most "
        f"{n / cpu if cpu else 0:.0f} domains/s per fully available core)"
    )
    print(
        f"{seconds:.1f} s wall: {n / seconds:.0f} domains/s (goal >= 200); peak RSS {peak_kib / 1024:.0f} MB "
        f"for the largest process, {TREE['peak_mb']:.0f} MB for all of them together, sampled (goal <= 200); "
        f"{relay.count - queries_before} DNS queries relayed "
        f"({(relay.count - queries_before) / max(n, 1):.1f} per domain)"
    )
    return 0 if len(domains) == n else 1


def outer(argv: list[str], pairs: int) -> int:
    if os.geteuid() != 0:
        sys.exit("needs root (ip netns)")
    ns = f"smtpprobe-auditbulk-{os.getpid()}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="auditbulk-") as workdir:
        try:
            subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
            subprocess.run(
                ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True, timeout=10
            )
            inner = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    sys.executable,
                    __file__,
                    *argv,
                    "--inside",
                    "--workdir",
                    workdir,
                ],
                timeout=pairs * 120 + 3600,
                check=False,
            )
            return inner.returncode
        finally:
            _remove_namespace(ns)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["zones", "many"])
    ap.add_argument("--pairs", type=int, default=7, choices=range(1, 101), metavar="N")
    ap.add_argument("--domains", type=int, default=10000, choices=range(1, 1000001), metavar="N")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1, help="smtpprobe audit --workers (1: one process)")
    ap.add_argument(
        "--selector",
        action="append",
        default=[],
        help="--dkim-selector for smtpprobe (default: probe the common selectors)",
    )
    ap.add_argument("--delay-ms", type=float, default=31.0)
    ap.add_argument("--checkdmarc", default=shutil.which("checkdmarc"))
    ap.add_argument("--smtpprobe", default=str(ROOT / ".venv" / "bin" / "smtpprobe"))
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    opts = ap.parse_args(argv)
    if opts.mode == "zones" and not (opts.checkdmarc and Path(opts.checkdmarc).exists()):
        sys.exit("checkdmarc not found: pip install checkdmarc into a venv and pass --checkdmarc PATH")
    return inside(opts) if opts.inside else outer(argv, opts.pairs)


if __name__ == "__main__":
    sys.exit(main())
