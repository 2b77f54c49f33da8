"""The burst's finding in one sentence, said before the numbers: what the server's limit is, as far as this
run shows it."""

from __future__ import annotations

from smtpprobe.burst.report import BurstReport


def finding(report: BurstReport) -> str:
    p = report.plan
    if report.unreachable:
        why = next(iter(report.error_kinds), "no answer")
        return f"Nothing answered at {p.host}:{p.port}: {why}."
    first = report.first_refusal
    if first:
        text = next(iter(report.refusals), "a refusal")
        index, open_then = first["index"], first["open_connections"]
        if open_then >= first["accepted_before"]:
            return (
                f"This server allows {open_then} concurrent connection{_s(open_then)} from you; "
                f"the {_ordinal(index)} got: {text}."
            )
        return (
            f"This server refused your {_ordinal(index)} connection after {first['seconds']:.1f}s with only "
            f"{open_then} open (it had accepted {first['accepted_before']}): a limit on the connection rate, not "
            f"on concurrent connections; the refusal: {text}."
        )
    if report.errors:
        why = next(iter(report.error_kinds), "an error")
        return (
            f"{report.accepted} of {report.attempted} connections were accepted and none refused, but "
            f"{report.errors} failed without an answer ({why}): no limit shown."
        )
    if report.interrupted:
        return f"Interrupted after {report.attempted} connections; none was refused up to then."
    peak = max(report.peak_sockets, report.peak_open)  # TCP connections held, greeted or not
    sentence = f"All {report.accepted} connections were accepted, at most {peak} open at once: no limit up to there"
    if peak < report.accepted and not p.hold:
        sentence += " (--hold SECONDS keeps each open, to find a concurrency limit)"
    return sentence + "."


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
