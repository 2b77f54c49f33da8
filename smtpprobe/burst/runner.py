"""Runs a BurstPlan: every connection on one asyncio loop, started in index order, no more than
`concurrency` at once, no faster than `rate`. Ctrl-C (SIGINT) cancels every connection, which aborts
its socket, and the report says the run was interrupted.

    from smtpprobe.burst import BurstPlan, run_burst
    report = run_burst(BurstPlan(host="127.0.0.1", port=2525, connections=20, hold=2))
    report.accepted, report.refused, report.first_refusal, report.to_dict()
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import threading
import time
from collections.abc import Callable

from smtpprobe.burst.plan import BurstPlan
from smtpprobe.burst.report import BurstReport
from smtpprobe.burst.worker import Attempt, Counters, run_connection, steps_for
from smtpprobe.caps import BURSTS as CAPPED

ProgressCallback = Callable[[Counters, float], None]  # (live counters, seconds since start)
PROGRESS_INTERVAL = 0.1


def run_burst(plan: BurstPlan, progress: ProgressCallback | None = None) -> BurstReport:
    """Validate the plan (UsageError before any connection when it breaks a bound or the safety cap),
    run it on a fresh event loop, and return the report. Blocking; call from a thread without a loop."""
    plan.validate()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(run_burst_async(plan, progress))


async def run_burst_async(plan: BurstPlan, progress: ProgressCallback | None = None) -> BurstReport:
    plan.validate()
    if not plan.own_server:  # the process-wide cap: many bursts together stay within it
        CAPPED.reserve(plan.connections, f"{plan.host}:{plan.port}")
    tls_context = _tls_context(plan) if plan.tls != "none" else None
    counters = Counters()
    attempts: list[Attempt] = []
    running: set[asyncio.Task] = set()
    interrupted = False
    t0 = time.monotonic()
    loop = asyncio.get_running_loop()
    spawner = asyncio.current_task()

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        for task in list(running):
            task.cancel()
        spawner.cancel()

    sigint = _install_sigint(loop, on_sigint)
    ticker = asyncio.create_task(_tick(progress, counters, t0)) if progress else None
    try:
        await _spawn(plan, counters, attempts, running, t0, tls_context)
        while running:  # the last connections finish
            await asyncio.wait(set(running))
    except asyncio.CancelledError:
        if not interrupted:
            raise
        spawner.uncancel()
        await asyncio.gather(*running, return_exceptions=True)  # each aborts its own socket
    finally:
        if ticker:
            ticker.cancel()
        if sigint:
            loop.remove_signal_handler(signal.SIGINT)
    elapsed = time.monotonic() - t0
    attempts.sort(key=lambda a: a.index)
    report = BurstReport.build(plan, attempts, elapsed, counters.peak_open, interrupted)
    report.peak_sockets = counters.peak_sockets
    return report


async def _spawn(plan: BurstPlan, counters: Counters, attempts: list[Attempt], running: set[asyncio.Task],
                 t0: float, tls_context: ssl.SSLContext | None) -> None:
    slots = asyncio.Semaphore(plan.effective_concurrency)
    steps = steps_for(plan)
    for index in range(1, plan.connections + 1):
        delay = t0 + (index - 1) / plan.rate - time.monotonic() if plan.rate else 0.0
        if not plan.own_server:
            delay = max(delay, CAPPED.delay())  # the cap's rate, shared with bursts running meanwhile
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        attempt = Attempt(index=index, started=time.monotonic() - t0)
        attempts.append(attempt)
        counters.started += 1
        task = asyncio.create_task(run_connection(plan, attempt, counters, t0, tls_context, steps))
        running.add(task)
        task.add_done_callback(lambda t: (running.discard(t), slots.release()))


async def _tick(progress: ProgressCallback, counters: Counters, t0: float) -> None:
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL)
        progress(counters, time.monotonic() - t0)


def _install_sigint(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> bool:
    if threading.current_thread() is not threading.main_thread():
        return False  # signal handlers live in the main thread; the caller handles interruption
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except (NotImplementedError, RuntimeError, ValueError):
        return False
    return True


def _loop_factory():
    """uvloop when installed (the `fast` extra): about twice the sessions a second of the stock loop."""
    import os

    if os.environ.get("SMTPPROBE_NO_UVLOOP") == "1":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _tls_context(plan: BurstPlan) -> ssl.SSLContext:
    from smtpprobe import tlsfiles

    tlsfiles.check_trust_store(None)  # an SSL_CERT_FILE FIFO would hang OpenSSL's load
    context = ssl.create_default_context()
    if not plan.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
