"""One burst connection on the shared asyncio loop: connect, read the greeting, go as far as the plan's
stage, hold, QUIT.

Written as an asyncio Protocol driven by callbacks rather than a coroutine per step: a full session is
then a handful of callbacks and one timer, which keeps a single loop at thousands of sessions a second.
Replies are parsed by the sans-I/O ReplyReader, so the bounds are those of `send`: 4 KiB lines, 200 lines
a reply, and every reply must arrive whole within the reply timeout.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from dataclasses import dataclass

from smtpprobe.burst.plan import BurstPlan
from smtpprobe.errors import ProtocolError
from smtpprobe.protocol.commands import command, mail_from, rcpt_to
from smtpprobe.protocol.reader import ReplyReader
from smtpprobe.protocol.reply import Reply

CLOSED = "(connection closed without a greeting)"
RESET = "(connection reset without a greeting)"
QUIT = command("QUIT")


@dataclass(slots=True)
class Attempt:
    """What happened to one connection. Times are seconds since the run started."""

    index: int  # 1-based, in the order connections were started
    started: float
    outcome: str = "pending"  # accepted | refused | error | interrupted
    greeting_ms: float | None = None  # from the start of the TCP connect to the whole greeting
    detail: str = ""  # refusal: the greeting as sent (or CLOSED/RESET); error: what went wrong
    decided: float | None = None  # when the outcome was known
    reached: str = ""  # the last stage whose reply was positive ("banner" once greeted, "quit" on 221)
    later: str = ""  # what went wrong after the greeting: "ehlo: 550 ...", "hold: (connection closed)"
    accepted_before: int = 0  # refusals only: greetings accepted before this refusal arrived
    open_at_refusal: int = 0  # refusals only: accepted connections still open when it arrived


class Counters:
    """Live totals shared by all connections (one loop, no locking): for the progress bar and for
    recording how many connections were open when a refusal came."""

    __slots__ = ("accepted", "done", "errors", "open", "peak_open", "peak_sockets", "refused", "sockets", "started")

    def __init__(self) -> None:
        self.started = self.accepted = self.refused = self.errors = self.open = self.peak_open = self.done = 0
        self.sockets = self.peak_sockets = 0  # TCP connections open (greeted or not): the real peak


def steps_for(plan: BurstPlan) -> list[tuple[str, bytes]]:
    """The commands after the greeting, up to the plan's stage (QUIT comes after the hold)."""
    last = plan.stage_index
    steps: list[tuple[str, bytes]] = []
    if last >= 1:
        steps.append(("ehlo", command("EHLO", plan.helo)))
        if plan.tls == "starttls":
            steps += [("starttls", command("STARTTLS")), ("ehlo", command("EHLO", plan.helo))]
    if last >= 2:
        steps.append(("mail", mail_from(plan.sender)))
    if last >= 3:
        steps.append(("rcpt", rcpt_to(plan.recipient)))
    return steps


async def run_connection(plan: BurstPlan, attempt: Attempt, counters: Counters, t0: float,
                         tls_context: ssl.SSLContext | None, steps: list[tuple[str, bytes]]) -> Attempt:
    """Connect (bounded by the connect timeout), then let the protocol run the session to its end."""
    loop = asyncio.get_running_loop()
    proto = BurstProtocol(plan, attempt, counters, t0, tls_context, steps)
    implicit = plan.tls == "implicit"
    try:
        async with asyncio.timeout(plan.connect_timeout):
            await loop.create_connection(
                lambda: proto, plan.host.strip("[]"), plan.port, family=plan.family,
                local_addr=(plan.local_address, 0) if plan.local_address else None,
                ssl=tls_context if implicit else None,
                server_hostname=(plan.tls_name or plan.host.strip("[]")) if implicit else None,
                ssl_handshake_timeout=plan.connect_timeout if implicit else None,
            )
    except TimeoutError:
        proto.decide("error", f"no TCP{'/TLS' if implicit else ''} connection within {plan.connect_timeout:g}s")
    except ssl.SSLError as exc:
        proto.decide("error", f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        # asyncio words it "Connect call failed (addr)"; the errno's own text groups better across targets
        proto.decide("error", f"connect: {os.strerror(exc.errno) if exc.errno else exc}")
    except asyncio.CancelledError:
        proto.decide("interrupted", "interrupted before the greeting")
        proto.finish(abort=True)
        raise
    if attempt.outcome in ("error", "interrupted"):
        proto.finish(abort=True)
        return attempt
    try:
        await proto.done
    except asyncio.CancelledError:
        if attempt.outcome == "pending":
            proto.decide("interrupted", "interrupted before the greeting")
        proto.finish(abort=True)
        raise
    return attempt


class BurstProtocol(asyncio.Protocol):
    def __init__(self, plan: BurstPlan, attempt: Attempt, counters: Counters, t0: float,
                 tls_context: ssl.SSLContext | None, steps: list[tuple[str, bytes]]):
        self.plan, self.attempt, self.counters, self.t0 = plan, attempt, counters, t0
        self.tls_context = tls_context
        self.steps = steps
        self.step = -1  # index into steps of the command awaiting its reply
        self.state = "connecting"  # greeting | <step name> | hold | quit | done
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.reader = ReplyReader()
        self.is_open = False  # counted in counters.open
        # One lazy timer per connection: it only moves when the deadline comes earlier (see _deadline_in).
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_when = 0.0

    # -- asyncio callbacks ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not None:
            return  # start_tls hands us the new transport itself
        self.transport = transport  # type: ignore[assignment]
        c = self.counters
        c.sockets += 1
        c.peak_sockets = max(c.peak_sockets, c.sockets)
        self.state = "greeting"
        self._deadline_in(self.plan.timeout)

    def data_received(self, data: bytes) -> None:
        if self.state == "hold":
            self.attempt.later = f"hold: {_quote(data)}"
            self.finish()
            return
        if self.state in ("done", "tls"):
            return
        try:
            replies = self.reader.feed(data)
        except ProtocolError as exc:
            self._stage_failed(str(exc))
            return
        for reply in replies:
            if self.state in ("done", "hold", "tls"):
                return
            self._on_reply(reply)

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state == "done":
            return
        if self.state == "greeting":
            self.decide("refused", RESET if isinstance(exc, ConnectionResetError) else CLOSED)
        elif self.state == "quit":
            self.attempt.later = "quit: (connection closed without a 221)"
        elif self.state != "connecting":
            self.attempt.later = f"{self.state}: (connection closed)"
        self.finish()

    # -- the session ------------------------------------------------------------------------------------
    def _on_reply(self, reply: Reply) -> None:
        state = self.state
        if state == "greeting":
            self.attempt.greeting_ms = round((self._now() - self.attempt.started) * 1000, 3)
            if reply.category != 2:
                self.decide("refused", str(reply))
                self._send_quit_and_finish()  # RFC 5321 §3.1: after a 554 greeting the client should QUIT
                return
            self.decide("accepted", "")
            self.attempt.reached = "banner"
            self.is_open = True
            c = self.counters
            c.open += 1
            c.peak_open = max(c.peak_open, c.open)
            self._next()
        elif state == "quit":
            if reply.code == 221:
                self.attempt.reached = "quit"
            else:
                self.attempt.later = f"quit: {reply}"
            self.finish()
        elif state == "starttls":
            if reply.code != 220:
                self.attempt.later = f"starttls: {reply}"
                self._send_quit_and_finish()
            elif self.reader.in_progress:  # never let plaintext bytes cross into TLS
                self.attempt.later = "starttls: the server sent more after its 220"
                self.finish(abort=True)
            else:
                self.state = "tls"
                self.loop.create_task(self._start_tls())
        else:
            if reply.category not in (2, 3):
                self.attempt.later = f"{state}: {reply}"
                self._send_quit_and_finish()
                return
            self.attempt.reached = state
            self._next()

    def _next(self) -> None:
        self.step += 1
        if self.step < len(self.steps):
            self.state, line = self.steps[self.step]
            self.transport.write(line)
            self._deadline_in(self.plan.timeout)
        elif self.plan.hold > 0:
            self.state = "hold"
            self._deadline_in(self.plan.hold)
        else:
            self._quit()

    def _quit(self) -> None:
        """Only --stage quit waits for the 221 and the close (a whole, clean session); other stages
        send QUIT and hang up."""
        if self.plan.stage == "quit":
            self.state = "quit"
            self.transport.write(QUIT)
            self._deadline_in(self.plan.timeout)
        else:
            self._send_quit_and_finish()

    def _send_quit_and_finish(self) -> None:
        try:
            self.transport.write(QUIT)
        except (OSError, RuntimeError):
            pass
        self.finish()

    async def _start_tls(self) -> None:
        name = self.plan.tls_name or self.plan.host.strip("[]")
        try:
            async with asyncio.timeout(self.plan.timeout):
                transport = await self.loop.start_tls(self.transport, self, self.tls_context, server_hostname=name)
        except asyncio.CancelledError:
            self.finish(abort=True)
            raise
        except (TimeoutError, ssl.SSLError, OSError, ConnectionError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or "no handshake within the timeout"
            self.attempt.later = f"starttls: handshake failed ({reason})"
            self.finish(abort=True)
            return
        if self.state == "done":
            transport.abort()
            return
        self.transport = transport
        self.attempt.reached = "starttls"
        self._next()

    # -- timing -----------------------------------------------------------------------------------------
    def _deadline_in(self, seconds: float) -> None:
        now = self.loop.time()
        self.deadline = now + seconds
        if self.timer is None or self.deadline < self.timer_when:
            if self.timer is not None:
                self.timer.cancel()
            self.timer_when = self.deadline
            self.timer = self.loop.call_at(self.deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.state == "done":
            return
        if self.loop.time() < self.deadline:  # the deadline moved on since: sleep until then
            self.timer_when = self.deadline
            self.timer = self.loop.call_at(self.deadline, self._on_timer)
            return
        if self.state == "hold":
            self._quit()
        elif self.state == "connecting":
            return  # the connect has its own timeout
        else:
            self._stage_failed(f"no whole reply within {self.plan.timeout:g}s")

    def _stage_failed(self, message: str) -> None:
        if self.state == "greeting":
            self.decide("error", f"greeting: {message}")
        else:
            self.attempt.later = f"{self.state}: {message}"
        self.finish(abort=True)

    # -- bookkeeping ------------------------------------------------------------------------------------
    def decide(self, outcome: str, detail: str) -> None:
        a, c = self.attempt, self.counters
        a.outcome, a.detail, a.decided = outcome, detail, self._now()
        if outcome == "accepted":
            c.accepted += 1
        elif outcome == "refused":
            a.accepted_before, a.open_at_refusal = c.accepted, c.open
            c.refused += 1
        elif outcome == "error":
            c.errors += 1

    def finish(self, abort: bool = False) -> None:
        """End the connection once: close the socket, update the counters, wake the waiting task."""
        if self.state == "done":
            return
        self.state = "done"
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.is_open:
            self.is_open = False
            self.counters.open -= 1
        self.counters.done += 1
        if self.transport is not None:
            self.counters.sockets -= 1
            # close() lets a QUIT already written leave first; abort() drops the socket at once.
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    def _now(self) -> float:
        return time.monotonic() - self.t0


def _quote(data: bytes, limit: int = 120) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty)"
