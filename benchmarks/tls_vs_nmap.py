"""smtpprobe tls vs nmap's ssl-enum-ciphers: one port's full TLS scan, pair by pair, in one run.

    python benchmarks/tls_vs_nmap.py                 # starts its own Postfix (root, Debian: postfix, nmap)
    python benchmarks/tls_vs_nmap.py --weak          # the Postfix offers TLS 1.0/1.1 and anonymous suites
    python benchmarks/tls_vs_nmap.py --server 127.0.0.1:465

Both scan the same implicit-TLS port (nmap prints nothing for a STARTTLS port off the standard numbers
without -sV). Each pair runs the two commands back to back, as processes, with their start-up included;
the order alternates so neither always finds the server warm. Also checks that both found the same
versions and suites. Prints per-pair figures and medians; docs/performance.md records a run.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEAK = {
    "tls_medium_cipherlist": "ALL:aNULL:eNULL:@SECLEVEL=0",
    "smtpd_tls_protocols": ">=TLSv1",
    "smtpd_tls_mandatory_protocols": ">=TLSv1",
}


def timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"benchmark: {' '.join(argv)} failed with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return elapsed, proc.stdout


def nmap_suites(out: str) -> set[tuple[str, str]]:
    found, version = set(), ""
    for line in out.splitlines():
        if m := re.match(r"\|\s+(TLSv1\.\d|SSLv3):", line):
            version = m.group(1)
        elif m := re.match(r"\|\s+(TLS_\w+)", line):
            name = m.group(1).replace("TLS_AKE_WITH_", "TLS_")
            found.add((version.replace("TLSv1.0", "TLSv1.0"), name))
    return found


def ours_suites(out: str) -> set[tuple[str, str]]:
    report = json.loads(out)
    return {(v["version"], s["name"]) for v in report["versions"] for s in v["suites"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", help="HOST:PORT of an implicit-TLS port (default: start a Postfix instance)"
    )
    parser.add_argument(
        "--weak", action="store_true", help="the started Postfix offers TLS 1.0/1.1, anonymous suites"
    )
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    nmap = shutil.which("nmap") or sys.exit("benchmark: nmap not found (apt-get install nmap)")
    ours = str(Path(sys.executable).parent / "smtpprobe")
    if not Path(ours).exists():
        sys.exit(f"benchmark: {ours} not found: run with the Python of the venv smtpprobe is installed in")
    inst = None
    if args.server:
        host, _, port = args.server.rpartition(":")
    else:
        sys.path.insert(0, str(ROOT))
        from tests.servers._postfix_bed import start_postfix

        inst = start_postfix("strict", WEAK if args.weak else None)
        host, port = inst.host, str(inst.smtps_port)
    try:
        mine = [ours, "tls", "--server", f"{host}:{port}", "--tls-on-connect", "--format", "json"]
        theirs = [nmap, "-Pn", "-n", "--script", "ssl-enum-ciphers", "-p", port, host]
        _, out_ours = timed(mine)
        _, out_nmap = timed(theirs)
        a, b = ours_suites(out_ours), nmap_suites(out_nmap)
        print(
            f"suites found: smtpprobe {len(a)}, nmap {len(b)}, in both {len(a & b)}"
            + (f"; only nmap: {sorted(b - a)[:5]}" if b - a else "")
            + (f"; only smtpprobe: {sorted(a - b)[:5]}" if a - b else "")
        )
        results = []
        for i in range(args.rounds):
            if i % 2:
                t_nmap, _ = timed(theirs)
                t_ours, _ = timed(mine)
            else:
                t_ours, _ = timed(mine)
                t_nmap, _ = timed(theirs)
            results.append((t_ours, t_nmap))
            print(f"pair {i + 1}: smtpprobe {t_ours * 1000:.0f} ms, nmap {t_nmap * 1000:.0f} ms")
        ours_med = statistics.median(a for a, _ in results)
        nmap_med = statistics.median(b for _, b in results)
        ratio = statistics.median(a / b for a, b in results)
        print(
            f"median: smtpprobe {ours_med * 1000:.0f} ms, nmap {nmap_med * 1000:.0f} ms, "
            f"ratio {ratio:.2f} (goal <= 1.0) over {len(results)} pairs -> {'met' if ratio <= 1 else 'MISSED'}"
        )
    finally:
        if inst is not None:
            inst.stop()


if __name__ == "__main__":
    main()
