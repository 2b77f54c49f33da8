"""Bursts of connections to find a server's connection limits (`smtpprobe burst`).

Public API for other parts of smtpprobe (e.g. the scenario engine):
    BurstPlan      what to do (validated, safety-capped)
    run_burst      blocking: plan -> BurstReport (own event loop)
    run_burst_async  the same inside a running loop
    BurstReport    totals, first_refusal, refusals, to_dict() (JSON schema 1)
"""

from smtpprobe.burst.plan import STAGES, BurstPlan
from smtpprobe.burst.report import BurstReport
from smtpprobe.burst.runner import run_burst, run_burst_async

__all__ = ["STAGES", "BurstPlan", "BurstReport", "run_burst", "run_burst_async"]
