"""`audit`'s table fits the terminal (COLUMNS, kept within 80..120 like `run`'s): findings, fixes, the SPF tree
and a 557-byte SPF record wrap in their cell; nothing is cut, and no line is wider than the width."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from smtpprobe.audit import findings as F
from smtpprobe.audit.render import render_table
from smtpprobe.audit.run import Report
from smtpprobe.report.layout import fit_width


def _audit(*args: str, columns: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "smtpprobe", "audit", *args], capture_output=True, text=True,
                          timeout=60, check=False, env=env)


def _columns(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each column of a grid, from its ---- line."""
    dashes = next(line for line in lines if line.startswith("--"))
    spans, start = [], 0
    for part in dashes.split("  "):
        spans.append((start, start + len(part)))
        start += len(part) + 2
    return spans


def _finding_column(table: str) -> str:
    """The text of every group's finding column, in order, whitespace removed."""
    out = []
    for block in table.split("\n\n")[1:-1]:  # a group: its name, the header, the dashes, the rows
        lines = block.splitlines()
        start, end = _columns(lines)[2]
        out += [line[start:end] for line in lines[3:]]
    return "".join("".join(out).split())


@pytest.mark.parametrize("columns", [80, 120])
def test_audit_fits_columns_and_shows_a_long_spf_record_whole(dns_server, columns):
    args = ["long.spf.test", "--resolver", dns_server.address, "--ip", "192.0.2.25", "--dnsbl", "bl.test",
            "--dkim-selector", "s", "-v"]
    p = _audit(*args, columns=columns)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns, max(lines, key=len)
    record = next(f for f in json.loads(_audit(*args, "--format", "json", columns=columns).stdout)["findings"]
                  if f["id"] == "spf.record")["detail"]["record"]
    assert len(record) > 450
    assert "record: " + " ".join(record.split()) in " ".join(p.stdout.split())  # wrapped, whole, in order
    assert "spf.too-long" in p.stdout and "fix: Shorten it" in " ".join(p.stdout.split())


@pytest.mark.parametrize("width", [None, 40, 80, 100, 120, 300])
def test_every_line_fits_and_no_text_is_lost(width):
    key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 10  # a DKIM key: 440 characters, no space
    name = ".".join(["a" * 63] * 3) + ".test"  # a 196-character name, no space
    record = "v=spf1 " + " ".join(f"ip4:198.51.100.{n}" for n in range(1, 31)) + " -all"
    report = Report("example.test", [
        F.Finding("spf.record", F.Severity.OK, "SPF record found at example.test", "", "RFC 7208",
                  {"record": record}),
        F.Finding("spf.lookup-limit", F.Severity.ERROR, "12 DNS-querying terms across the SPF tree (limit 10)",
                  "Flatten includes, drop unused ones, replace a/mx with ip4/ip6.", "RFC 7208 §4.6.4, §5.2",
                  {"tree": ["domain example.test: 2 lookup(s)", "  " * 12 + f"include {name}: 3 lookup(s)"]}),
        F.Finding("dkim.key-unusable", F.Severity.ERROR, f"selector s: p={key} is not a key",
                  f"Publish a key at s._domainkey.{name} instead of this one.",
                  "RFC 5321 §4.1.1.1, §4.1.3; RFC 7208 §2.3"),
        F.Finding("host.helo-invalid", F.Severity.WARNING, f"HELO \x1b[2K{name} is neither", "", "RFC 5321"),
    ], queries=9, seconds=0.5)
    table = render_table(report, verbose=True, width=width)
    fits = fit_width(width)
    assert max(len(line) for line in table.splitlines()) <= fits, max(table.splitlines(), key=len)
    assert "\x1b" not in table and "\\x1b[2K" in table  # the display sanitizer, as everywhere
    finding = _finding_column(table)
    for f in report.findings:
        assert "".join(F.printable(f.message, 10_000).split()) in finding
        if f.severity in (F.Severity.ERROR, F.Severity.WARNING) and f.fix:
            assert "".join(f"fix: {f.fix}".split()) in finding
    assert "".join(f"record: {record}".split()) in finding
    assert "".join(f"include {name}: 3 lookup(s)".split()) in finding
    assert "RFC 7208 §2.3" in table and "RFC 5321 §4.1.1.1," in table  # one reference a line, not cut
