"""`audit --workers N`: one list audited by N processes, for lists long enough that one core is the limit.

One process audits a few hundred domains a second at most: past that its CPU (reading answers, judging,
writing JSON) is the bottleneck, not the network. Here the parent starts N children, each a plain
`smtpprobe audit --from-file -` with the same options and its share of --concurrency, gives each child
the next line whenever it has fewer than twice its share outstanding (a child busy with slow domains gets
fewer; the list is never dealt out up front), and copies their JSON lines to its own output whole, as they come, in completion order. The summary is
the sum of the children's lines. A child that dies is reported with the number of its domains that were
not audited; nothing is dropped silently.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

from smtpprobe.audit.bulk import Progress, Summary

WORKER_ENV = "SMTPPROBE_AUDIT_WORKER"  # set in a child: no summary or progress of its own
MAX_WORKERS = 16


def child_options(template: Any, concurrency: int) -> list[str]:
    """The command-line options that make a child audit like the parent."""
    args = ["--concurrency", str(concurrency), "--timeout", repr(template.timeout)]
    for flag, value in (("--ip", template.ip), ("--helo", template.helo), ("--resolver", template.resolver)):
        if value is not None:
            args += [flag, value]
    args += [a for s in template.selectors for a in ("--dkim-selector", s)]
    args += [a for z in template.dnsbl or () for a in ("--dnsbl", z)]
    return args


def run(names: Iterator[str], template: Any, concurrency: int, workers: int, out: IO[str] | None = None,
        err: IO[str] | None = None) -> Summary:
    out, err = out or sys.stdout, err or sys.stderr
    share = max(1, -(-concurrency // workers))
    command = [sys.executable, "-m", "smtpprobe", "audit", "--from-file", "-", *child_options(template, share)]
    env = {**os.environ, WORKER_ENV: "1"}
    # a session of their own: Ctrl-C reaches the parent only, which says so once and ends the children
    children = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                                 encoding="utf-8", bufsize=1, start_new_session=True) for _ in range(workers)]
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue(maxsize=4 * workers)
    source, source_lock = iter(names), threading.Lock()
    given = [0] * workers
    credit = [threading.Semaphore(2 * share) for _ in range(workers)]  # lines a child may hold unreported
    ended = [False] * workers
    summary, progress, started = Summary(), Progress(err), time.monotonic()

    def feed(i: int) -> None:
        pipe = children[i].stdin
        assert pipe is not None
        try:
            while True:
                credit[i].acquire()
                if summary.closed or ended[i]:
                    break
                with source_lock:
                    name = next(source, None)
                if name is None:
                    break
                given[i] += 1  # counted first: if the write fails, the line is among the child's lost ones
                pipe.write(name + "\n")
        except OSError:
            pass  # the child died (a broken pipe): its collector reports it
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def collect(i: int) -> None:
        stream = children[i].stdout
        assert stream is not None
        for line in stream:
            lines.put((i, line))
        lines.put((i, None))

    threads = [threading.Thread(target=f, args=(i,), daemon=True) for i in range(workers) for f in (feed, collect)]
    for t in threads:
        t.start()
    got, running = [0] * workers, workers
    try:
        while running:
            i, line = lines.get()
            if line is None:
                running -= 1
                ended[i] = True
                credit[i].release()  # its feeder may be waiting: let it see the end
                _reap(children[i], given, got, i, summary, err)
                continue
            got[i] += 1
            credit[i].release()
            _count(summary, line)
            if not summary.closed:
                try:
                    out.write(line)
                    out.flush()
                except BrokenPipeError:  # `| head`: stop feeding; the children finish what they hold
                    summary.closed = True
            progress.update(summary, started)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    summary.seconds = time.monotonic() - started
    progress.done()
    return summary


def _count(summary: Summary, line: str) -> None:
    try:
        report = json.loads(line)
    except ValueError:
        report = None
    summary.count(report if isinstance(report, dict) else {"result": "invalid"})


def _reap(child: subprocess.Popen, given: list[int], got: list[int], i: int, summary: Summary,
          err: IO[str]) -> None:
    code = child.wait()
    lost = given[i] - got[i]
    if lost > 0 and not summary.closed:
        summary.invalid += lost
        summary.audited += lost
        err.write(f"smtpprobe audit: worker {i + 1} ended with exit {code}; {lost} of its domains were not "
                  "audited\n")
