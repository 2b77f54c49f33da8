"""Report renderers: a table grouped SPF / DKIM / DMARC / host, and JSON (schema 1)."""

from __future__ import annotations

import json
from typing import Any

from smtpprobe.audit.findings import GROUPS, Severity
from smtpprobe.audit.run import Report

SCHEMA = 1
_MARK = {Severity.ERROR: "ERROR", Severity.WARNING: "warn", Severity.INFO: "info", Severity.OK: "ok"}


def to_json(report: Report) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "domain": report.domain,
        "result": "fail" if report.failed else "pass",
        "findings": [f.to_json() for f in report.findings],
        "spf": report.spf,
        "dkim": report.dkim,
        "dmarc": report.dmarc,
        "host": report.host,
        "stats": {"dns_queries": report.queries, "seconds": report.seconds},
    }


def render_json(report: Report) -> str:
    return json.dumps(to_json(report), indent=2, ensure_ascii=False)


def render_table(report: Report, verbose: bool = False) -> str:
    from tabulate import tabulate

    parts = [f"smtpprobe audit {report.domain}"]
    for group in GROUPS:
        rows = []
        for f in (f for f in report.findings if f.group == group):
            rows.append([_MARK[f.severity], f.id, f.message + (f"\n  fix: {f.fix}" if f.fix and f.severity in (
                Severity.ERROR, Severity.WARNING) else ""), f.rfc])
            if verbose or f.id in ("spf.lookup-limit",):
                rows += [["", "", "  " + line, ""] for line in f.detail.get("tree", [])]
        if rows:
            parts.append(f"\n{group.upper()}\n" + tabulate(rows, headers=["", "id", "finding", "ref"],
                                                            tablefmt="simple",
                                                            preserve_whitespace=True))  # the SPF tree's indent
    errors = sum(f.severity == Severity.ERROR for f in report.findings)
    warnings = sum(f.severity == Severity.WARNING for f in report.findings)
    parts.append(f"\n{errors} error(s), {warnings} warning(s); {report.queries} DNS queries in {report.seconds:.2f}s")
    return "\n".join(parts)
