"""`smtpprobe run`: the conformance catalogue (or your scenario files) against a server, for people and CI."""

from __future__ import annotations

import os
import sys
import time

import click

from smtpprobe import tlsfiles
from smtpprobe.cli.common import handle_errors
from smtpprobe.errors import UsageError

FORMATS = ("table", "json", "junit")


@click.command()
@click.argument("paths", nargs=-1, metavar="[FILES|DIRS]...")
@click.option("--server", "-s", metavar="HOST[:PORT]", help="Target server (a port here is the mx role's).")
@click.option(
    "--port",
    "-p",
    "ports",
    multiple=True,
    metavar="ROLE=PORT",
    help="Port role to test and its port: mx=25, submission=587, smtps=465; ROLE alone uses the "
    "standard port, a bare number is mx. Repeatable. Default: mx only.",
)
@click.option(
    "--target", "profile", metavar="FILE", help="Target profile (TOML): server, ports, variables, policy."
)
@click.option(
    "--policy",
    type=click.Choice(["rfc", "hardened"]),
    help="Is a lenient answer a warn (rfc, default) or a fail (hardened)?",
)
@click.option(
    "--catalogue", "with_catalogue", is_flag=True, help="Run the built-in catalogue as well as FILES."
)
@click.option(
    "--only",
    multiple=True,
    metavar="ID|TAG",
    help="Only scenarios whose id starts so, or with this tag ('all': everything; 'attack': the security "
    "probes; 'tls-posture': the TLS scans). Default: the conformance scenarios, without those two.",
)
@click.option(
    "--skip", multiple=True, metavar="ID|TAG", help="Leave out scenarios whose id starts so, or tagged so."
)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios (after --only/--skip) and exit.")
@click.option(
    "--helo",
    metavar="NAME",
    help="{helo}: name for EHLO (default: this host's FQDN, or smtpprobe.example.org).",
)
@click.option("--sender", metavar="ADDR", help="{sender} (default smtpprobe@{helo}).")
@click.option(
    "--local-rcpt",
    metavar="ADDR",
    help="{local_rcpt}: a recipient the server accepts (default <postmaster>, no domain). Needed, and "
    "given explicitly, by the probes that deliver mail (smuggling).",
)
@click.option(
    "--foreign-rcpt",
    metavar="ADDR",
    help="{foreign_rcpt}: an address off the server, for relay tests (default relaytest@example.net).",
)
@click.option("--auth-user", metavar="USER", help="{auth_user}, for scenarios with AUTH steps.")
@click.option(
    "--auth-password",
    metavar="PASS",
    envvar="SMTPPROBE_AUTH_PASSWORD",
    help="{auth_password} (or env SMTPPROBE_AUTH_PASSWORD).",
)
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--output", "-o", metavar="FILE", help="Write the --format output here; the table still goes to stdout."
)
@click.option("--concurrency", "-c", type=click.IntRange(1, 32), help="Scenarios run at once (default 4).")
@click.option("--timeout", type=click.FloatRange(0.1, 600), help="Seconds per reply (default 10).")
@click.option("--verbose", "-v", is_flag=True, help="Show the transcript of every result that is not a pass.")
@handle_errors
def run(**opts) -> None:
    """Run conformance scenarios against an SMTP server and judge the replies.

    Without FILES the built-in catalogue runs: its conformance scenarios, which deliver no mail and open no
    burst; the security probes and TLS scans run only when selected (--only attack, --only tls-posture,
    or --only all). Exit 0 when nothing failed (warns allowed), 1 when a
    scenario failed, 2 for bad input, 3 when a scenario could not be tested (unreachable, timeout).

    \b
    Examples:
      smtpprobe run --list
      smtpprobe run --server mx.example.org --policy hardened
      smtpprobe run -s 127.0.0.1 -p mx=2525 -p submission=5870 -p smtps=4650 --local-rcpt postmaster@lab.test
      smtpprobe run my-checks/ --catalogue -s mx.example.org --format junit --output smtp.xml
    """
    from smtpprobe.scenario import catalogue_path, load_paths
    from smtpprobe.scenario.target import OVERRIDE_KEYS, build_target, load_profile

    paths = list(opts["paths"])
    if not paths or opts["with_catalogue"]:
        paths.insert(0, catalogue_path())
    scenarios = _select(load_paths(paths), opts["only"], opts["skip"])
    if opts["list_only"]:
        _list(scenarios, opts["fmt"])
        return
    profile = load_profile(opts["profile"]) if opts["profile"] else {}
    overrides = {k: opts[k] for k in OVERRIDE_KEYS}
    target = build_target(opts["server"], opts["ports"], profile, overrides)
    tlsfiles.check_env_ca()  # the TLS scans hand it to OpenSSL, which a FIFO would hang
    runnable = [s for s in scenarios if any(role in target.ports for role in s.ports)]
    not_run = [{"id": s.id, "roles": list(s.ports)} for s in scenarios if s not in runnable]
    if not runnable:
        roles = sorted({r for s in scenarios for r in s.ports})
        raise UsageError(
            f"none of the selected scenarios applies to the selected port roles "
            f"({', '.join(target.ports)}); they need {', '.join(roles)}: add --port ROLE=PORT"
        )
    cut_off = _drop_unreachable(target, target.timeout)  # after the checks of the input: bad input is exit 2
    runnable = [s for s in runnable if any(role in target.ports for role in s.ports)]
    concurrency = opts["concurrency"] or int(profile.get("concurrency", 4))
    _run_and_report(runnable, target, concurrency, opts, not_run, cut_off)


def _drop_unreachable(target, timeout: float) -> dict[str, str]:
    """Roles whose port takes no connection are left out, one line each on stderr; none left: exit 3.
    Returns {"ROLE PORT": why} of those left out."""
    from smtpprobe.errors import TransportError
    from smtpprobe.reach import hint, unreachable

    lost = unreachable(target.host, target.ports, timeout)
    if len(lost) == len(target.ports):
        why = next(iter(lost.values()))
        others = "" if len(lost) == 1 else f" (and the other {len(lost) - 1} ports)"
        raise TransportError(f"{why}{others}; nothing was tested: {hint(why)}")
    left_out = {f"{role} {target.ports.pop(role)}": why for role, why in lost.items()}
    for where, why in left_out.items():
        click.echo(f"smtpprobe: {where}: {why}; its scenarios are not run", err=True)
    return left_out


def _select(scenarios: list, only: tuple[str, ...], skip: tuple[str, ...]) -> list:
    only = tuple(s for item in only for s in item.split(",") if s)
    skip = tuple(s for item in skip for s in item.split(",") if s)
    if not only:  # the catalogue's security probes and TLS scans are opt-in; your own files run whole
        from smtpprobe.scenario import catalogue_path
        from smtpprobe.scenario.model import OPT_IN

        shipped = str(catalogue_path())
        scenarios = [s for s in scenarios if not (s.source.startswith(shipped) and OPT_IN & set(s.tags))]
    chosen = [s for s in scenarios if (not only or s.matches(only)) and not (skip and s.matches(skip))]
    if not chosen:
        raise UsageError(
            f"no scenario matches --only {','.join(only) or '-'} / --skip {','.join(skip) or '-'} "
            f"(ids: {', '.join(sorted({s.base_id for s in scenarios}))})"
        )
    return chosen


def _list(scenarios: list, fmt: str) -> None:
    if fmt == "json":
        import json

        items = [
            {
                "id": s.id,
                "title": s.title,
                "ports": list(s.ports),
                "basis": s.basis,
                "reference": s.reference,
                "tags": list(s.tags),
                "exclusive": s.exclusive,
                "source": s.source,
            }
            for s in scenarios
        ]
        click.echo(json.dumps({"schema": 1, "scenarios": items}, indent=2, ensure_ascii=False))
        return
    from smtpprobe.report.table import render_list

    click.echo(render_list(scenarios), nl=False)


def _run_and_report(
    scenarios: list, target, concurrency: int, opts: dict, not_run: list[dict], cut_off: dict | None = None
) -> None:
    from smtpprobe.report import json_report, junit, table
    from smtpprobe.report.layout import terminal_width
    from smtpprobe.report.progress import RunProgress
    from smtpprobe.scenario.runner import run_all
    from smtpprobe.scenario.verdict import exit_code

    started = time.monotonic()
    jobs = sum(1 for s in scenarios for role in s.ports if role in target.ports)
    progress = RunProgress(jobs)
    try:
        results = run_all(scenarios, target, concurrency=concurrency, on_result=progress)
    finally:
        progress.clear()
    seconds = time.monotonic() - started
    tty = sys.stdout.isatty()
    colour = tty and "NO_COLOR" not in os.environ
    as_table = table.render(
        target,
        results,
        seconds,
        colour=colour,
        width=terminal_width() if tty else None,
        verbose=opts["verbose"],
        not_run=not_run,
        unreachable=cut_off,
    )
    rendered = {
        "table": lambda: table.render(
            target, results, seconds, verbose=opts["verbose"], not_run=not_run, unreachable=cut_off
        ),
        "json": lambda: json_report.render(target, results, seconds, not_run, unreachable=cut_off),
        "junit": lambda: junit.render(target, results, seconds),
    }[opts["fmt"]]
    if opts["output"]:
        try:
            with open(opts["output"], "w", encoding="utf-8") as out:
                out.write(rendered())
        except OSError as exc:
            raise UsageError(f"--output {opts['output']}: {exc.strerror or exc}") from None
        click.echo(as_table, nl=False)
    else:
        click.echo(as_table if opts["fmt"] == "table" else rendered(), nl=False)
    code = int(exit_code(results))
    sys.exit(3 if cut_off and code == 0 else code)  # a role that could not be reached was not tested
