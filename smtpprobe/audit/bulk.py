"""Many domains in one process: `audit A B C` or `audit --from-file FILE|-`.

The list is streamed (read in chunks as workers free up, never held whole), at most `concurrency` audits run
at once in one event loop, each with its own resolver cache (dropped when its line is written), and each
report is written as one JSON line and flushed as soon as that domain is done, in completion order. Memory
stays flat with the list's length: only the reports in flight are held.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import IO, Any

from smtpprobe.audit.findings import BadInput
from smtpprobe.audit.resolver import Resolver

MAX_CONCURRENCY = 256
_CHUNK = 256  # lines per hop to the reader thread for files; 1 for pipes, so a line is audited once read


@dataclass
class Summary:
    audited: int = 0
    passed: int = 0
    failed: int = 0
    invalid: int = 0  # not a domain name (or an internal error on it): a line with "result": "invalid"
    seconds: float = 0.0
    failing: dict[str, int] = field(default_factory=dict)  # finding id -> domains with that error
    closed: bool = False  # our output was closed by its reader

    def count(self, report: dict[str, Any]) -> None:
        """One domain's JSON line as written: pass, fail (with its error findings' ids) or invalid."""
        self.audited += 1
        result = report.get("result")
        if result == "pass":
            self.passed += 1
        elif result == "fail":
            self.failed += 1
            for fid in {f.get("id") for f in report.get("findings", []) if f.get("severity") == "error"}:
                self.failing[fid] = self.failing.get(fid, 0) + 1
        else:
            self.invalid += 1

    @property
    def rate(self) -> float:
        return self.audited / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        top = ", ".join(f"{fid} {n}" for fid, n in sorted(self.failing.items(), key=lambda kv: -kv[1])[:5])
        return (
            f"audited {self.audited} domain(s) in {self.seconds:.1f}s ({self.rate:.0f}/s): {self.passed} pass, "
            f"{self.failed} fail, {self.invalid} invalid" + (f"; most common errors: {top}" if top else "")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "audited": self.audited,
            "pass": self.passed,
            "fail": self.failed,
            "invalid": self.invalid,
            "seconds": round(self.seconds, 3),
            "errors_by_id": self.failing,
        }


def domains_from_lines(lines: Iterable[str]) -> Iterator[str]:
    """One domain a line; blank lines and # comments skipped; surrounding space stripped."""
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            yield text


class Progress:
    """A one-line counter on stderr, redrawn at most 10 times a second; only on a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.on = stream.isatty()
        self.last = 0.0

    def update(self, s: Summary, started: float, force: bool = False) -> None:
        now = time.monotonic()
        if not self.on or (now - self.last < 0.1 and not force):
            return
        self.last = now
        rate = s.audited / max(now - started, 1e-6)
        self.stream.write(f"\r\x1b[K{s.audited} audited ({s.failed} fail, {s.invalid} invalid), {rate:.0f}/s")
        self.stream.flush()

    def done(self) -> None:
        if self.on:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


async def run_bulk(
    domains: Iterable[str],
    template: Any,
    concurrency: int,
    out: IO[str],
    progress: Progress | None = None,
    chunk: int = _CHUNK,
) -> Summary:
    """Audits every domain with `template`'s options (its `domain` ignored), writing JSON lines to `out`."""
    from smtpprobe.audit.render import to_json
    from smtpprobe.audit.run import _audit, finish, validate

    base = Resolver(template.resolver, template.timeout)
    summary = Summary()
    started = time.monotonic()
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=2 * concurrency)
    source = iter(domains)

    def emit(obj: dict[str, Any]) -> None:
        if summary.closed:
            return
        summary.count(obj)
        try:
            out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
            out.flush()
        except BrokenPipeError:  # the reader went away (`| head`): finish what is in flight, start nothing
            summary.closed = True

    async def reader() -> None:
        while True:
            lines = await asyncio.to_thread(_take, source, chunk)
            for name in lines:
                await queue.put(name)
            if len(lines) < chunk or summary.closed:
                break
        for _ in range(concurrency):
            await queue.put(None)

    async def worker() -> None:
        while (name := await queue.get()) is not None:
            if summary.closed:
                continue
            try:
                opts = validate(replace(template, domain=name))
            except BadInput as exc:
                emit({"schema": 1, "domain": name, "result": "invalid", "error": str(exc)})
                continue
            resolver = base.fork()
            t0 = time.monotonic()
            try:
                report = await _audit(opts, resolver)
            except Exception as exc:  # noqa: BLE001 - a bug on one domain must not end the other 9,999
                emit(
                    {
                        "schema": 1,
                        "domain": opts.domain,
                        "result": "invalid",
                        "error": f"internal error: {type(exc).__name__}: {exc}",
                    }
                )
                continue
            finish(report, resolver, opts, t0)
            emit(to_json(report))
            if progress:
                progress.update(summary, started)

    try:
        await asyncio.gather(reader(), *(worker() for _ in range(concurrency)))
    finally:
        base.close()
    summary.seconds = time.monotonic() - started
    if progress:
        progress.done()
    return summary


def _take(source: Iterator[str], n: int) -> list[str]:
    out = []
    for item in source:
        out.append(item)
        if len(out) == n:
            break
    return out


def run(
    domains: Iterable[str],
    template: Any,
    concurrency: int,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    streaming: bool = False,
    worker: bool = False,
) -> Summary:
    """`streaming`: the input is a pipe or terminal; each line is audited as soon as it arrives.
    `worker`: a child of `--workers` (workers.py): no progress line; lines taken one at a time, so that
    the parent can give the rest to whichever child is free."""
    out = out or sys.stdout
    err = err or sys.stderr
    chunk = 1 if streaming or worker else _CHUNK
    summary = asyncio.run(run_bulk(domains, template, concurrency, out, None if worker else Progress(err), chunk))
    end_if_closed(summary)
    return summary


def check_concurrency(concurrency: int) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise BadInput(f"--concurrency: expected 1 to {MAX_CONCURRENCY}, got {concurrency}")


def end_if_closed(summary: Summary) -> None:
    """The reader of our output went away (`| head`): the broken pipe, held back until the domains in flight
    were done, goes on to the command's error handling (cli.common), which ends quietly with exit 141."""
    if summary.closed:
        import errno

        raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")
