"""`smtpprobe run` for people: a table (colour on a terminal), a reason for every non-pass, a summary
line, and with --verbose the transcript of each non-pass."""

from __future__ import annotations

from smtpprobe.display import safe
from smtpprobe.report.layout import fit_width, grid, wrap
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
    unreachable: dict[str, str] | None = None,
) -> str:
    import click

    width = fit_width(width)

    def paint(verdict: Verdict, text: str) -> str:
        return click.style(text, fg=COLOURS[verdict], bold=verdict is Verdict.FAIL) if colour else text

    rows = [[safe(r.id), f"{r.role} {r.port}", r.verdict.value, safe(r.reason)] for r in results]
    table = grid(
        ["ID", "PORT", "VERDICT", "REASON"],
        rows,
        width,
        paint=lambda row, col, text: paint(results[row].verdict, text) if col == 2 else text,
    )
    ports = ", ".join(f"{role} {port}" for role, port in target.ports.items())
    out = [f"Target {target.host} ({ports}), policy {target.policy}", "", *table, ""]
    tally = counts(results)
    said = finding(results)
    if unreachable and said == "Every check passed.":
        said = (
            f"Every check that ran passed, but {', '.join(unreachable)} could not be reached (exit code 3)."
        )
    out += wrap(said, width)
    out.append(
        f"{tally['total']} result{'' if tally['total'] == 1 else 's'}: "
        + ", ".join(f"{tally[v.value]} {v.value}" for v in ORDER)
        + f" in {seconds:.1f}s"
    )
    if not_run:
        roles = sorted({role for item in not_run for role in item["roles"]})
        out += wrap(
            f"{len(not_run)} scenario{'' if len(not_run) == 1 else 's'} not run: "
            "they apply only to port roles not selected "
            f"({', '.join(roles)}); add --port ROLE=PORT",
            width,
        )
    for where, why in (unreachable or {}).items():
        out += wrap(f"Not tested: {where}: {why}", width)
    if verbose:
        for result in results:
            if result.verdict is Verdict.PASS:
                continue
            out += [
                "",
                f"--- {result.id} on {result.role} {result.port}: {paint(result.verdict, result.verdict.value)}",
            ]
            out += wrap(safe(result.summary), width, indent="    ")
            out += [shorten(line, width) for line in transcript_lines(result.transcript, colour=colour)]
    return "\n".join(out) + "\n"


def finding(results: list[Result]) -> str:
    """The run's finding in one sentence, said before the numbers."""

    def named(verdict: Verdict) -> str:
        ids = list(dict.fromkeys(r.id for r in results if r.verdict is verdict))
        more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
        return ", ".join(ids[:3]) + more

    tally = counts(results)
    if tally["fail"]:
        return f"The server failed on {named(Verdict.FAIL)}."
    if tally["error"]:
        return f"Nothing failed, but some checks could not be tested: {named(Verdict.ERROR)}."
    if tally["warn"]:
        return (
            "Nothing failed; warnings (answers the RFCs allow that a hardened server would not give) on "
            f"{named(Verdict.WARN)}."
        )
    if tally["info"] and not tally["pass"]:
        return f"Nothing failed; leniency the RFCs allow (info) on {named(Verdict.INFO)}."
    if tally["pass"]:
        return "Every check that ran passed." if tally["skip"] else "Every check passed."
    return "Nothing was judged: every check was skipped."


def shorten(line: str, width: int) -> str:
    """A transcript line wider than the table (a probe's payload can be thousands of characters) is cut,
    saying how long it was; JSON and JUnit keep it whole."""
    if len(click_unstyle(line)) <= width:
        return line
    plain = click_unstyle(line)
    tail = f"... ({len(plain) - 4:,} characters)"  # the text after its 4-column mark (" -> ", "<-  ")
    return plain[: width - len(tail)] + tail


def click_unstyle(text: str) -> str:
    import click

    return click.unstyle(text)


def render_list(scenarios: list, colour: bool = False) -> str:
    from tabulate import tabulate

    rows = [[s.id, ",".join(s.ports), s.basis, s.title] for s in scenarios]
    return (
        tabulate(rows, headers=["ID", "PORTS", "BASIS", "TITLE"], tablefmt="simple")
        + f"\n\n{len(scenarios)} scenarios\n"
    )
