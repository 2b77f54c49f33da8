"""`smtpprobe run --format json`: schema 1, documented in docs/run.md. Change only with the version."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from smtpprobe import __version__
from smtpprobe.scenario.target import Target
from smtpprobe.scenario.verdict import Result, counts, exit_code

SCHEMA = 1


def document(
    target: Target, results: list[Result], seconds: float, not_run: list[dict] | None = None
) -> dict:
    return {
        "schema": SCHEMA,
        "tool": {"name": "smtpprobe", "version": __version__},
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": target.public(),
        "seconds": round(seconds, 3),
        "results": [r.to_dict() for r in results],
        "not_run": not_run or [],
        "summary": counts(results),
        "exit_code": int(exit_code(results)),
    }


def render(target: Target, results: list[Result], seconds: float, not_run: list[dict] | None = None) -> str:
    return json.dumps(document(target, results, seconds, not_run), indent=2, ensure_ascii=False) + "\n"
