"""The whole catalogue, security probes included, against the hardened lab: goal <= 3 s (issue 11).

    python benchmarks/run_catalogue.py                      # 5 runs of .venv's smtpprobe
    python benchmarks/run_catalogue.py --baseline /work/main/.venv/bin/smtpprobe --rounds 5

Starts `smtpprobe lab` (hardened profile, free ports) once, then times `smtpprobe run --only all
--policy hardened --local-rcpt postmaster@lab.test` on the mx, submission and smtps roles, start-up included.
With --baseline, another smtpprobe (an older checkout) runs the same catalogue pair by pair, alternating, so
both see the same machine load; an older version runs the probes by default, so it gets no --only.
Every run of ours must exit 0 (the hardened lab passes everything) or the benchmark stops; the baseline's
verdicts do not matter here (the pre-issue-11 catalogue fails the lab now and then), only its time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 3.0


def start_lab(smtpprobe: str) -> tuple[subprocess.Popen, dict[str, int]]:
    proc = subprocess.Popen(
        [smtpprobe, "lab", "--port", "0", "--submission-port", "0", "--smtps-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ports: dict[str, int] = {}
    deadline = time.monotonic() + 20
    while len(ports) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        found = re.match(r"lab: (mx|submission|smtps) .* on 127\.0\.0\.1:(\d+)", line)
        if found:
            ports[found.group(1)] = int(found.group(2))
    if len(ports) < 3:
        proc.kill()
        sys.exit(f"benchmark: the lab did not start ({ports})")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # type: ignore[union-attr]  # keep the pipe drained
    return proc, ports


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process (the lab), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], lab_pid: int = 0, must_pass: bool = True) -> tuple[float, dict, float, float]:
    """Wall seconds, the JSON report, the client's CPU seconds and the lab's during the run."""
    before, lab_before = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_of(lab_pid) if lab_pid else 0.0
    started = time.perf_counter()
    proc = subprocess.run(argv, check=False, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    lab = (cpu_of(lab_pid) - lab_before) if lab_pid else 0.0
    if proc.returncode != 0 and must_pass:
        sys.exit(f"benchmark: {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr}")
    return elapsed, json.loads(proc.stdout), client, lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smtpprobe", default=str(ROOT / ".venv" / "bin" / "smtpprobe"))
    parser.add_argument(
        "--baseline", help="another smtpprobe to time pair by pair (runs its default selection)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lab, ports = start_lab(args.smtpprobe)
    try:
        target = ["--server", "127.0.0.1", *(f"--port={role}={port}" for role, port in ports.items())]
        common = [*target, "--local-rcpt", "postmaster@lab.test", "--helo", "client.example.org",
                  "--policy", "hardened", "--format", "json"]  # fmt: skip
        ours = [args.smtpprobe, "run", *common, "--only", "all"]
        theirs = [args.baseline, "run", *common] if args.baseline else None
        timed(ours)  # warm the page cache
        rows = []
        cpu = []
        for _ in range(args.rounds):
            a, doc, client, server = timed(ours, lab.pid)
            b = timed(theirs, must_pass=False)[0] if theirs else None  # only its time counts
            rows.append((a, b, doc["summary"]))
            cpu.append((client, server))
        load = os.getloadavg()[0]
        print(
            f"lab ports {ports}; {os.cpu_count()} CPUs; load average {load:.1f}; Python {sys.version.split()[0]}"
        )
        for i, ((a, b, summary), (client, server)) in enumerate(zip(rows, cpu, strict=True), 1):
            other = f"   baseline {b:5.2f} s" if b is not None else ""
            print(
                f"run {i}: {a:5.2f} s ({summary['total']} results, {summary['fail']} fail; CPU: smtpprobe "
                f"{client:.2f} s, lab {server:.2f} s){other}"
            )
        client = statistics.median(c for c, _ in cpu)
        server = statistics.median(s for _, s in cpu)
        print(
            f"CPU per run (median): smtpprobe {client:.2f} s + lab {server:.2f} s; on {os.cpu_count()} idle cores "
            f"the run cannot take less than {(client + server) / (os.cpu_count() or 1):.2f} s"
        )
        median = statistics.median(a for a, _, _ in rows)
        verdict = "met" if median <= GOAL else "MISSED"
        print(
            f"median {median:.2f} s for the whole catalogue with the probes (goal <= {GOAL:g} s) -> {verdict}"
        )
        if theirs:
            base = statistics.median(b for _, b, _ in rows if b is not None)
            print(f"baseline median {base:.2f} s; ratio {median / base:.2f}")
    finally:
        lab.terminate()
        lab.wait(10)


if __name__ == "__main__":
    main()
