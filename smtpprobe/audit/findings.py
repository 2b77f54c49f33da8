"""Findings: one checked fact, with a stable id, severity, message, fix hint and RFC reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from smtpprobe.display import clip
from smtpprobe.errors import SmtpProbeError, UsageError


class AuditError(SmtpProbeError):
    """The audit itself could not run (not a finding about the domain)."""


class BadInput(UsageError):
    """A malformed domain, IP, selector or message file (exit 2)."""


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    OK = "ok"


GROUPS = ("dns", "spf", "dkim", "dmarc", "host")  # dns: the resolver itself


@dataclass(frozen=True)
class Finding:
    id: str  # stable, e.g. "spf.lookup-limit"; documented in docs/audit.md
    severity: Severity
    message: str  # one line
    fix: str = ""
    rfc: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]

    def to_json(self) -> dict[str, Any]:
        d = {"id": self.id, "severity": self.severity.value, "message": self.message, "fix": self.fix,
             "rfc": self.rfc}
        if self.detail:  # shared, not copied (dataclasses.asdict's deep copy cost a bulk audit 5% of its CPU)
            d["detail"] = self.detail
        d["group"] = self.group
        return d


def error(id: str, message: str, fix: str = "", rfc: str = "", **detail: Any) -> Finding:
    return Finding(id, Severity.ERROR, message, fix, rfc, detail)


def warning(id: str, message: str, fix: str = "", rfc: str = "", **detail: Any) -> Finding:
    return Finding(id, Severity.WARNING, message, fix, rfc, detail)


def info(id: str, message: str, fix: str = "", rfc: str = "", **detail: Any) -> Finding:
    return Finding(id, Severity.INFO, message, fix, rfc, detail)


def ok(id: str, message: str, rfc: str = "", **detail: Any) -> Finding:
    return Finding(id, Severity.OK, message, "", rfc, detail)


def printable(text: str, limit: int = 120) -> str:
    """Record text quoted safely on one line: DNS data may hold control characters or be huge."""
    return clip(text, limit)
