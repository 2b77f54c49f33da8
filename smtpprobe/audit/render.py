"""Report renderers: a table grouped SPF / DKIM / DMARC / host, and JSON (schema 1)."""

from __future__ import annotations

import json
from typing import Any

from smtpprobe.audit.findings import GROUPS, Finding, Severity
from smtpprobe.audit.run import Report
from smtpprobe.display import safe  # idempotent: messages are made safe where built; this keeps widths true

SCHEMA = 1
REF_WIDTH = 20  # "RFC 6376 errata 3017", the longest single reference; a list of them wraps
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


def render_table(report: Report, verbose: bool = False, width: int | None = None) -> str:
    """The findings by group, fitting WIDTH columns (80..120; default $COLUMNS, else the terminal's, else
    100): a finding, its fix and the SPF tree wrap in their cell, never widen the table nor get cut."""
    from smtpprobe.report.layout import fit_width, grid, terminal_width, wrap

    width = fit_width(width or terminal_width())
    parts = wrap(f"smtpprobe audit {safe(report.domain)}", width)
    for group in GROUPS:
        rows = [_row(f, verbose) for f in report.findings if f.group == group]
        if rows:
            parts += ["", group.upper(), *grid(["", "id", "finding", "ref"], rows, width, flex=2,
                                               most={3: REF_WIDTH})]
    errors = sum(f.severity == Severity.ERROR for f in report.findings)
    warnings = sum(f.severity == Severity.WARNING for f in report.findings)
    parts += ["", *wrap(f"{errors} error(s), {warnings} warning(s); {report.queries} DNS queries in "
                        f"{report.seconds:.2f}s", width)]
    return "\n".join(parts)


def _row(f: Finding, verbose: bool) -> list[str]:
    """[mark, id, finding, ref]: the finding's cell holds its fix and SPF tree as further lines, indented."""
    lines = [safe(f.message)]
    if f.fix and f.severity in (Severity.ERROR, Severity.WARNING):
        lines.append("  fix: " + safe(f.fix))
    if verbose and f.detail.get("record"):  # a 450-byte SPF record is wrapped, shown whole
        lines.append("  record: " + safe(f.detail["record"]))
    if verbose or f.id == "spf.lookup-limit":
        lines += ["  " + safe(line) for line in f.detail.get("tree", [])]
    refs = "\n".join(ref.strip() for ref in f.rfc.split(";"))  # one reference a line when the column is narrow
    return [_MARK[f.severity], f.id, "\n".join(lines), refs]
