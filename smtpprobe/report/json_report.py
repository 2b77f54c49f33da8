"""`smtpprobe run --format json`: schema 1, documented in docs/run.md. Change only with the version."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from smtpprobe import __version__
from smtpprobe.scenario.target import Target
from smtpprobe.scenario.verdict import Result, counts, exit_code

SCHEMA = 1


def document(
    target: Target,
    results: list[Result],
    seconds: float,
    not_run: list[dict] | None = None,
    unreachable: dict[str, str] | None = None,
) -> dict:
    code = int(exit_code(results))
    return {
        "schema": SCHEMA,
        "tool": {"name": "smtpprobe", "version": __version__},
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": target.public(),
        "seconds": round(seconds, 3),
        "results": [r.to_dict() for r in results],
        "not_run": not_run or [],
        # "ROLE PORT": why, for ports that took no connection (left out of the run); only when there are any
        **({"unreachable": unreachable} if unreachable else {}),
        "summary": counts(results),
        "exit_code": 3 if unreachable and code == 0 else code,
    }


def render(
    target: Target,
    results: list[Result],
    seconds: float,
    not_run: list[dict] | None = None,
    unreachable: dict[str, str] | None = None,
) -> str:
    document_ = document(target, results, seconds, not_run, unreachable)
    return json.dumps(document_, indent=2, ensure_ascii=False) + "\n"
