"""Verdicts and results: what a scenario run on one port concluded, and the exit code of a run.

Severity follows harm (docs/scenarios.md, "Verdicts"): fail: exploitable, or breaks delivery or retries
(for a hardening basis only under --policy hardened; under rfc the same answer is a warn). warn: a
departure from an RFC requirement with no known harm. info: leniency the RFC allows, worth knowing. pass:
the server answered as expected. error: could not test (no connection, timeout, a setup step refused).
skip: not tested: not applicable, gated (STARTTLS or AUTH required and not satisfiable), or a probe that
would deliver mail without an explicit --local-rcpt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from smtpprobe.exitcodes import Exit


class Verdict(str, Enum):
    PASS = "pass"
    INFO = "info"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return ORDER.index(self)


ORDER = [Verdict.PASS, Verdict.INFO, Verdict.SKIP, Verdict.WARN, Verdict.ERROR, Verdict.FAIL]
POLICIES = ("rfc", "hardened")


def judged(basis: str, policy: str) -> Verdict:
    """The verdict for a wrong answer: a hardening check fails only under the hardened policy."""
    return Verdict.FAIL if basis == "rfc" or policy == "hardened" else Verdict.WARN


@dataclass
class Check:
    """One judged point in a scenario: a step's expectation, or why the run stopped."""

    step: int
    verdict: Verdict
    explanation: str  # one sentence: expected, got, why it matters; for a pass, what was seen
    short: str = ""  # the table's reason: what was sent, expected and got


@dataclass
class Result:
    id: str
    title: str
    role: str
    port: int
    verdict: Verdict
    summary: str  # one sentence for a non-pass ("" for a pass)
    reason: str
    basis: str
    reference: str
    tags: tuple[str, ...] = ()
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    transcript: list[dict] = field(default_factory=list)
    unreachable: bool = False  # the connection itself failed (counts toward exit 3)
    source: str = ""

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "verdict": self.verdict.value,
            "role": self.role,
            "port": self.port,
            "summary": self.summary,
            "reason": self.reason,
            "basis": self.basis,
            "reference": self.reference,
            "tags": list(self.tags),
            "seconds": round(self.seconds, 3),
            "checks": [
                {"step": c.step, "verdict": c.verdict.value, "explanation": c.explanation, "reason": c.short}
                for c in self.checks
            ],
            "source": self.source,
            "transcript": self.transcript,
        }


def counts(results: list[Result]) -> dict[str, int]:
    out = {v.value: 0 for v in ORDER}
    for result in results:
        out[result.verdict.value] += 1
    out["total"] = len(results)
    return out


def exit_code(results: list[Result]) -> Exit:
    """1 when a scenario failed; else 3 when one could not be tested (unreachable, timeout); else 0."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return Exit.FAILED
    if Verdict.ERROR in verdicts:
        return Exit.NETWORK
    return Exit.OK


def worst(checks: list[Check]) -> Verdict:
    return max((c.verdict for c in checks), key=lambda v: v.rank, default=Verdict.PASS)
