"""`smtpprobe run` for people: a table (colour on a terminal), a reason for every non-pass, a summary
line, and with --verbose the transcript of each non-pass."""

from __future__ import annotations

import shutil

from smtpprobe.display import safe
from smtpprobe.report.transcript_text import transcript_lines
from smtpprobe.scenario.target import Target
from smtpprobe.scenario.verdict import ORDER, Result, Verdict, counts

COLOURS = {
    Verdict.PASS: "green",
    Verdict.INFO: "cyan",
    Verdict.WARN: "yellow",
    Verdict.FAIL: "red",
    Verdict.ERROR: "magenta",
    Verdict.SKIP: "bright_black",
}


def render(
    target: Target,
    results: list[Result],
    seconds: float,
    *,
    colour: bool = False,
    width: int | None = None,
    verbose: bool = False,
    not_run: list[dict] | None = None,
) -> str:
    import click
    from tabulate import tabulate

    def paint(verdict: Verdict) -> str:
        return (
            click.style(verdict.value, fg=COLOURS[verdict], bold=verdict is Verdict.FAIL)
            if colour
            else verdict.value
        )

    rows = [[safe(r.id), f"{r.role} {r.port}", paint(r.verdict), safe(r.reason)] for r in results]
    reason_width = None
    if width:  # wrap the reason to the terminal; in a CI log keep each reason on one line
        used = (
            max((len(r.id) for r in results), default=2)
            + max((len(f"{r.role} {r.port}") for r in results), default=4)
            + 7
            + 9
        )
        reason_width = max(30, width - used)
    table = tabulate(
        rows,
        headers=["ID", "PORT", "VERDICT", "REASON"],
        tablefmt="simple",
        maxcolwidths=[None, None, None, reason_width] if reason_width else None,
    )
    ports = ", ".join(f"{role} {port}" for role, port in target.ports.items())
    out = [f"Target {target.host} ({ports}), policy {target.policy}", "", table, ""]
    tally = counts(results)
    out.append(
        f"{tally['total']} result{'' if tally['total'] == 1 else 's'}: "
        + ", ".join(f"{tally[v.value]} {v.value}" for v in ORDER)
        + f" in {seconds:.1f}s"
    )
    if not_run:
        roles = sorted({role for item in not_run for role in item["roles"]})
        out.append(
            f"{len(not_run)} scenario{'' if len(not_run) == 1 else 's'} not run: "
            "they apply only to port roles not selected "
            f"({', '.join(roles)}); add --port ROLE=PORT"
        )
    if verbose:
        for result in results:
            if result.verdict is Verdict.PASS:
                continue
            out += [
                "",
                f"--- {result.id} on {result.role} {result.port}: {paint(result.verdict)}",
                f"    {safe(result.summary)}",
            ]
            out += transcript_lines(result.transcript, colour=colour)
    return "\n".join(out) + "\n"


def terminal_width() -> int:
    return shutil.get_terminal_size((120, 24)).columns


def render_list(scenarios: list, colour: bool = False) -> str:
    from tabulate import tabulate

    rows = [[s.id, ",".join(s.ports), s.basis, s.title] for s in scenarios]
    return (
        tabulate(rows, headers=["ID", "PORTS", "BASIS", "TITLE"], tablefmt="simple")
        + f"\n\n{len(scenarios)} scenarios\n"
    )
