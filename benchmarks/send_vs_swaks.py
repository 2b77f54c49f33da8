"""smtpprobe send vs swaks: the same transaction against the same server, pair by pair, in one run.

    python benchmarks/send_vs_swaks.py                       # starts its own Postfix (root, Debian)
    python benchmarks/send_vs_swaks.py --server 127.0.0.1:25 --to postmaster@example.org

Prints per-pair figures and the medians; docs/performance.md records a run. The smtpprobe measured is the
console script next to this Python (a venv's bin/), not a pyenv shim, which alone costs ~60 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"benchmark: {' '.join(argv)} failed with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return elapsed


def pairs(a: list[str], b: list[str], rounds: int) -> list[tuple[float, float]]:
    timed(a), timed(b)  # warm the page cache
    return [(timed(a), timed(b)) for _ in range(rounds)]


def report(name: str, results: list[tuple[float, float]], goal: float) -> None:
    ratios = [a / b for a, b in results]
    ours, theirs = statistics.median(a for a, _ in results), statistics.median(b for _, b in results)
    ratio = statistics.median(ratios)
    print(f"{name}: smtpprobe median {ours * 1000:.1f} ms, swaks median {theirs * 1000:.1f} ms, "
          f"median ratio {ratio:.2f} (goal <= {goal}) over {len(results)} pairs -> {'met' if ratio <= goal else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="HOST:PORT of the target (default: start a Postfix instance)")
    parser.add_argument("--to", default="postmaster@lab.test")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    swaks = shutil.which("swaks") or sys.exit("benchmark: swaks not found (apt-get install swaks)")
    ours = str(Path(sys.executable).parent / "smtpprobe")
    if not Path(ours).exists():
        sys.exit(f"benchmark: {ours} not found: run with the Python of the venv smtpprobe is installed in")
    with tempfile.TemporaryDirectory() as tmp:
        server, stop = (args.server, None) if args.server else start_postfix(Path(tmp))
        try:
            common = ["--server", server, "--to", args.to, "--from", "bench@example.org"]
            send = [ours, "send", *common, "--helo", "bench.example.org"]
            swaks_send = [swaks, *common, "--helo", "bench.example.org"]
            print(f"target {server}; {sys.version.split()[0]}; swaks {swaks}")
            report("transaction", pairs(send, swaks_send, args.rounds), goal=1.0)
            report("start-up (smtpprobe --help vs swaks --version)",
                   pairs([ours, "--help"], [swaks, "--version"], args.rounds), goal=1.5)
        finally:
            if stop:
                stop()


def start_postfix(tmp: Path):
    sys.path.insert(0, str(ROOT))
    from tests.servers._postfix_bed import start_postfix as start  # the test bed's own instance manager

    instance = start("strict")
    return f"{instance.host}:{instance.smtp_port}", instance.stop


if __name__ == "__main__":
    main()
