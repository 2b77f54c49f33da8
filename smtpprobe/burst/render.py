"""The burst report as text for a terminal: a summary block, then refusals and errors by text."""

from __future__ import annotations

from smtpprobe.burst.report import BurstReport
from smtpprobe.display import safe


def table(report: BurstReport) -> list[str]:
    from smtpprobe.burst.finding import finding

    p = report.plan
    rate = p.effective_rate
    how = (f"rate {rate:g}/s" + ("" if p.rate else " (the safety cap)")) if rate else "no rate limit"
    lines = [
        f"Burst to {p.host}:{p.port}: {p.connections} connections, concurrency {p.effective_concurrency}, "
        f"{how}, stage {p.stage}" + (f", hold {p.hold:g}s" if p.hold else "") + (f", TLS {p.tls}" if p.tls != "none" else ""),
        "",
        *_wrap(safe(finding(report))),
        "",
    ]
    rows = [
        ("attempted", str(report.attempted)),
        ("accepted (2xx greeting)", str(report.accepted)),
        ("refused", str(report.refused)),
        ("errors", str(report.errors)),
        (f"completed (stage {p.stage})", str(report.completed)),
        ("first refusal", _first(report.first_refusal)),
        ("peak open connections", str(report.peak_sockets)),
        ("peak greeted and open", str(report.peak_open)),
        ("connections per second", _num(report.connections_per_second)),
        ("sessions per second", _num(report.sessions_per_second)),
        ("greeting latency ms", _latency(report.banner_latency_ms)),
        ("elapsed", f"{report.elapsed:.3f}s" + ("  (interrupted)" if report.interrupted else "")),
    ]
    width = max(len(name) for name, _ in rows)
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    for title, groups in (("Refusals", report.refusals), ("Errors", report.error_kinds),
                          ("Refused after the greeting", report.later_replies)):
        if groups:
            lines += ["", title]
            count_width = max(len(str(n)) for n in groups.values())
            lines += [f"  {str(n).rjust(count_width)}  {safe(text)}" for text, n in groups.items()]
    return lines


def _wrap(text: str, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, break_on_hyphens=False)


def _first(first: dict | None) -> str:
    if not first:
        return "none"
    return (f"#{first['index']} at {first['seconds']:.3f}s, {first['accepted_before']} accepted before, "
            f"{first['open_connections']} open then")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _latency(lat: dict | None) -> str:
    if not lat:
        return "-"
    return f"p50 {lat['p50']:g}  p95 {lat['p95']:g}  max {lat['max']:g}"
