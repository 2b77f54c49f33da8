"""`smtpprobe audit`: thin adapter; the work is in smtpprobe.audit (imported only here)."""

from __future__ import annotations

import sys

import click

from smtpprobe.cli.common import handle_errors
from smtpprobe.exitcodes import Exit


@click.command()
@click.argument("domain")
@click.option("--ip", help="Sending IP: SPF evaluation, PTR/FCrDNS, DNS blocklists.")
@click.option("--helo", help="HELO/EHLO name: SPF HELO identity, must resolve to --ip.")
@click.option("--sender", help="MAIL FROM address (default postmaster@DOMAIN).")
@click.option("--dkim-selector", "selectors", multiple=True, help="DKIM selector (repeatable; default: probe common ones).")
@click.option("--message", type=click.Path(dir_okay=False), help="An .eml whose DKIM signatures to verify.")
@click.option("--resolver", help="DNS server IP[:PORT] (default: the system's).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds per DNS query.")
@click.option("--dnsbl", multiple=True, help="DNS blocklist zone (repeatable; replaces the default list).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Show the SPF include tree.")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@handle_errors(prefix="smtpprobe audit")
def audit(domain: str, ip: str | None, helo: str | None, sender: str | None, selectors: tuple[str, ...],
          message: str | None, resolver: str | None, timeout: float, dnsbl: tuple[str, ...], fmt: str,
          verbose: bool, debug: bool) -> None:
    """Audit DOMAIN's SPF, DKIM and DMARC DNS, and the sending host. Exit 0: no error found; 1: an error
    finding; 2: bad input."""
    from smtpprobe.audit.run import Options, run_audit

    body = None
    if message is not None:
        from smtpprobe.inputfile import read_file

        body = read_file(message, "--message")  # a regular file, at most 50 MiB
    opts = Options(domain, ip, helo, sender, list(selectors), body, resolver, timeout,
                   list(dnsbl) if dnsbl else None)
    report = run_audit(opts)
    from smtpprobe.audit.render import render_json, render_table

    click.echo(render_json(report) if fmt == "json" else render_table(report, verbose))
    sys.exit(int(Exit.FAILED if report.failed else Exit.OK))
