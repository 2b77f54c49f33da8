"""`smtpprobe audit`: thin adapter; the work is in smtpprobe.audit (imported only here)."""

from __future__ import annotations

import itertools
import json
import sys
from typing import Any

import click

from smtpprobe.cli.common import handle_errors
from smtpprobe.exitcodes import Exit


@click.command()
@click.argument("domains", nargs=-1, metavar="DOMAIN...")
@click.option("--from-file", "from_file", metavar="FILE",
              help="Audit the domains in FILE, one a line (- for stdin); JSON Lines out.")
@click.option("--concurrency", type=int, default=32, show_default=True,
              help="Domains audited at once (several DOMAINs or --from-file).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Processes sharing a long list (--from-file); one core audits a few hundred domains/s.")
@click.option("--ip", help="Sending IP: SPF evaluation, PTR/FCrDNS, DNS blocklists.")
@click.option("--helo", help="HELO/EHLO name: SPF HELO identity, must resolve to --ip.")
@click.option("--sender", help="MAIL FROM address (default postmaster@DOMAIN).")
@click.option("--dkim-selector", "selectors", multiple=True, help="DKIM selector (repeatable; default: probe common ones).")
@click.option("--message", type=click.Path(dir_okay=False), help="An .eml whose DKIM signatures to verify.")
@click.option("--resolver", help="DNS server IP[:PORT] (default: the system's).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds per DNS query.")
@click.option("--dnsbl", multiple=True, help="DNS blocklist zone (repeatable; replaces the default list).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "jsonl"]),
              help="table (one domain, default), json; several domains: jsonl (one object a line, the default).")
@click.option("-v", "--verbose", is_flag=True, help="Show the SPF record and include tree.")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@handle_errors(prefix="smtpprobe audit")
def audit(domains: tuple[str, ...], from_file: str | None, concurrency: int, workers: int, ip: str | None, helo: str | None,
          sender: str | None, selectors: tuple[str, ...], message: str | None, resolver: str | None,
          timeout: float, dnsbl: tuple[str, ...], fmt: str | None, verbose: bool, debug: bool) -> None:
    """Audit DOMAIN's SPF, DKIM and DMARC DNS, and the sending host; several DOMAINs or --from-file audit
    many at once (JSON Lines, a summary on stderr). Exit 0: no error found; 1: an error finding (any domain);
    2: bad input."""
    from smtpprobe.audit.findings import BadInput
    from smtpprobe.audit.run import Options, run_audit

    if not domains and from_file is None:
        raise BadInput("give a DOMAIN, several, or --from-file FILE (- for stdin)")
    if len(domains) > 1 or from_file is not None:
        _bulk(domains, from_file, concurrency, workers, Options("", ip, helo, None, list(selectors), None, resolver,
                                                         timeout, list(dnsbl) if dnsbl else None),
              fmt, sender, message)
        return
    domain = domains[0]
    body = None
    if message is not None:
        from smtpprobe.inputfile import read_file

        body = read_file(message, "--message")  # a regular file, at most 50 MiB
    opts = Options(domain, ip, helo, sender, list(selectors), body, resolver, timeout,
                   list(dnsbl) if dnsbl else None)
    report = run_audit(opts)
    from smtpprobe.audit.render import render_json, render_table

    if fmt == "jsonl":
        from smtpprobe.audit.render import to_json

        click.echo(json.dumps(to_json(report), ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(render_json(report) if fmt == "json" else render_table(report, verbose))
    sys.exit(int(Exit.FAILED if report.failed else Exit.OK))


def _bulk(domains: tuple[str, ...], from_file: str | None, concurrency: int, workers: int, template: Any,
          fmt: str | None, sender: str | None, message: str | None) -> None:
    import os
    from dataclasses import replace

    from smtpprobe.audit import bulk
    from smtpprobe.audit import workers as pool
    from smtpprobe.audit.findings import BadInput
    from smtpprobe.audit.run import validate

    if fmt not in (None, "jsonl"):
        raise BadInput(f"--format {fmt}: several domains are written as JSON Lines (--format jsonl)")
    if sender is not None or message is not None:
        raise BadInput("--sender and --message belong to one domain; not with several DOMAINs or --from-file")
    validate(replace(template, domain="example.com"))  # bad --ip, --helo, --timeout...: exit 2 before starting
    bulk.check_concurrency(concurrency)
    if not 1 <= workers <= pool.MAX_WORKERS:
        raise BadInput(f"--workers: expected 1 to {pool.MAX_WORKERS}, got {workers}")
    child = bool(os.environ.get(pool.WORKER_ENV))
    stream = None
    if from_file == "-":
        stream = sys.stdin
    elif from_file is not None:
        try:
            stream = open(from_file, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise BadInput(f"--from-file: {exc.strerror}: {from_file}") from None
    names = itertools.chain(bulk.domains_from_lines(domains),
                            bulk.domains_from_lines(stream) if stream is not None else ())
    try:
        if workers > 1:
            summary = pool.run(names, template, concurrency, workers)
            bulk.end_if_closed(summary)
        else:
            summary = bulk.run(names, template, concurrency, streaming=stream is not None and not _regular(stream),
                               worker=child)
    finally:
        if stream is not None and stream is not sys.stdin:
            stream.close()
    if child:
        sys.exit(0)  # the parent judges and sums up
    click.echo(f"smtpprobe audit: {summary.line()}", err=True)
    sys.exit(int(Exit.FAILED if summary.failed or summary.invalid else Exit.OK))


def _regular(stream: Any) -> bool:
    import os
    import stat

    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False
