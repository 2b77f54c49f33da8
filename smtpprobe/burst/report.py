"""The burst report: totals, the first refusal, refusals grouped by text, rate and greeting latency.

`to_dict()` is the JSON form (schema 1); the field names are the ones issue 5 fixes: schema, attempted,
accepted, refused, errors, first_refusal, refusals, connections_per_second, banner_latency_ms.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from smtpprobe.burst.plan import BurstPlan
from smtpprobe.burst.worker import Attempt

SCHEMA = 1


@dataclass
class BurstReport:
    plan: BurstPlan
    attempts: list[Attempt]
    elapsed: float
    peak_open: int = 0  # greeted connections open at once
    peak_sockets: int = 0  # TCP connections open at once, greeted or not: what the server really held
    interrupted: bool = False
    attempted: int = 0
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    completed: int = 0  # reached the plan's stage (for --stage quit: got the 221)
    first_refusal: dict | None = None
    refusals: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    later_replies: dict[str, int] = field(default_factory=dict)
    connections_per_second: float | None = None
    sessions_per_second: float | None = None
    banner_latency_ms: dict[str, float] | None = None

    @classmethod
    def build(cls, plan: BurstPlan, attempts: list[Attempt], elapsed: float, peak_open: int = 0,
              interrupted: bool = False) -> BurstReport:
        r = cls(plan=plan, attempts=attempts, elapsed=elapsed, peak_open=peak_open, interrupted=interrupted)
        r.attempted = len(attempts)
        by = Counter(a.outcome for a in attempts)
        r.accepted, r.refused, r.errors = by["accepted"], by["refused"], by["error"]
        r.completed = sum(1 for a in attempts if a.reached == plan.stage and not a.later)
        r.refusals = _grouped(a.detail for a in attempts if a.outcome == "refused")
        r.error_kinds = _grouped(a.detail for a in attempts if a.outcome == "error")
        r.later_replies = _grouped(a.later for a in attempts if a.later)
        refusals = [a for a in attempts if a.outcome == "refused"]
        if refusals:
            first = min(refusals, key=lambda a: (a.decided, a.index))
            r.first_refusal = {
                "index": first.index,
                "seconds": round(first.decided, 4),
                "reply": first.detail,
                "accepted_before": first.accepted_before,
                "open_connections": first.open_at_refusal,
            }
        decided = [a.decided for a in attempts if a.decided is not None and a.outcome != "interrupted"]
        if decided:
            # Connections opened (answered or failed) per second, from the run's start to the last answer.
            span = max(decided)
            r.connections_per_second = round(len(decided) / span, 1) if span > 0 else None
        if elapsed > 0:
            r.sessions_per_second = round(r.completed / elapsed, 1)
        latencies = sorted(a.greeting_ms for a in attempts if a.outcome == "accepted" and a.greeting_ms is not None)
        if latencies:
            r.banner_latency_ms = {
                "p50": round(_percentile(latencies, 50), 2),
                "p95": round(_percentile(latencies, 95), 2),
                "max": round(latencies[-1], 2),
            }
        return r

    @property
    def unreachable(self) -> bool:
        """Nothing answered: every attempt failed to connect or timed out before a greeting."""
        return self.attempted > 0 and self.accepted == 0 and self.refused == 0 and not self.interrupted

    def to_dict(self) -> dict:
        from smtpprobe.burst.finding import finding

        p = self.plan
        return {
            "schema": SCHEMA,
            "server": p.host,
            "port": p.port,
            "finding": finding(self),
            "plan": {
                "connections": p.connections,
                "concurrency": p.effective_concurrency,
                "rate": p.rate,
                "hold": p.hold,
                "stage": p.stage,
                "tls": p.tls,
            },
            "attempted": self.attempted,
            "accepted": self.accepted,
            "refused": self.refused,
            "errors": self.errors,
            "completed": self.completed,
            "first_refusal": self.first_refusal,
            "refusals": self.refusals,
            "error_kinds": self.error_kinds,
            "later_replies": self.later_replies,
            "connections_per_second": self.connections_per_second,
            "sessions_per_second": self.sessions_per_second,
            "banner_latency_ms": self.banner_latency_ms,
            "peak_open": self.peak_open,
            "peak_sockets": self.peak_sockets,
            "elapsed_seconds": round(self.elapsed, 3),
            "interrupted": self.interrupted,
        }


def _grouped(texts) -> dict[str, int]:
    """Text -> count, most frequent first."""
    return dict(Counter(texts).most_common())


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
