"""`smtpprobe burst`: open many connections at once or at a steady rate and report where the server
starts refusing them. Exit codes: 0 the run completed (refusals are findings, not failures), 2 bad
options or over the safety cap (nothing sent), 3 nothing answered (the target was unreachable),
130 interrupted (Ctrl-C; the partial report is still printed)."""

from __future__ import annotations

import json
import socket
import sys

import click

from smtpprobe.cli.common import handle_errors
from smtpprobe.exitcodes import Exit

_STAGES = ("banner", "ehlo", "mail", "rcpt", "quit")


@click.command()
@click.option("--server", "-s", required=True, metavar="HOST[:PORT]", help="Target server.")
@click.option("--port", "-p", multiple=True, metavar="PORT", help="Port or ROLE=PORT (default 25, or 465 with --tls-on-connect).")
@click.option("--connections", "-n", type=int, default=10, show_default=True, help="Connections to open in all.")
@click.option("--concurrency", "-c", type=int, help="At most this many open at once (default: all of them).")
@click.option("--rate", type=float, metavar="PER_SECOND", help="Open new connections at this steady rate.")
@click.option("--hold", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="Keep each connection open this long after its stage, then QUIT.")
@click.option("--stage", type=click.Choice(_STAGES, case_sensitive=False), default="banner", show_default=True,
              help="How far each connection goes: greeting, EHLO, MAIL, RCPT, or a whole session up to QUIT's 221.")
@click.option("--tls", "tls", flag_value="starttls", help="STARTTLS after EHLO (needs --stage ehlo or later).")
@click.option("--tls-on-connect", "tls", flag_value="implicit", help="Implicit TLS (port 465, RFC 8314).")
@click.option("--tls-verify", is_flag=True, help="Count a certificate that does not verify as an error.")
@click.option("--tls-sni", metavar="NAME", help="Name for SNI (default: the server).")
@click.option("--helo", "--ehlo", "helo", metavar="NAME", help="Name for EHLO (default: this host's name).")
@click.option("--from", "-f", "sender", metavar="ADDR", help="MAIL FROM address; '' for <> (default burst@<helo name>).")
@click.option("--to", "-t", "recipient", default="postmaster", show_default=True, metavar="ADDR",
              help="RCPT TO address.")
@click.option("--timeout", default=10.0, show_default=True, type=float, help="Seconds per reply (greeting too).")
@click.option("--connect-timeout", type=float, help="Seconds for the TCP (and implicit TLS) connect. Default: --timeout.")
@click.option("--local-address", metavar="IP", help="Source address to connect from.")
@click.option("-4", "ipv4", is_flag=True, help="IPv4 only.")
@click.option("-6", "ipv6", is_flag=True, help="IPv6 only.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--i-own-this-server", "own_server", is_flag=True,
              help="Lift the safety cap (500 connections, 100/s); only for servers you run.")
@handle_errors
def burst(**opts) -> None:
    """Find a server's connection limits with a burst of connections.

    Hold many connections open at once to find a concurrency limit, or open them at a steady --rate to
    find a rate limit. Every connection ends with QUIT; no message DATA is ever sent.

    \b
    Examples:
      smtpprobe burst --server 127.0.0.1:2525 --connections 20 --hold 2
      smtpprobe burst --server mx.example.org --connections 60 --rate 5 --stage ehlo
      smtpprobe burst --server 127.0.0.1:2525 -n 5000 -c 10 --stage quit --i-own-this-server --format json
    """
    from smtpprobe.burst import BurstPlan, run_burst
    from smtpprobe.burst.fdlimit import ensure_open_files
    from smtpprobe.burst.progress import ProgressBar
    from smtpprobe.burst.render import table
    from smtpprobe.ports import single_port
    from smtpprobe.target import parse_server

    given = parse_server(opts["server"], 0)[1] if opts["server"] else None  # a second port must agree
    tls, opts["port"] = opts["tls"] or "none", single_port(opts["port"], given)
    server, port = parse_server(opts["server"], opts["port"] or (465 if tls == "implicit" else 25))
    if opts["port"]:
        port = opts["port"]
    plan = BurstPlan(
        host=server, port=port, connections=opts["connections"], concurrency=opts["concurrency"],
        rate=opts["rate"], hold=opts["hold"], stage=opts["stage"].lower(), tls=tls,
        tls_verify=opts["tls_verify"], tls_name=opts["tls_sni"], timeout=opts["timeout"],
        connect_timeout=opts["connect_timeout"] or opts["timeout"], helo=opts["helo"] or "",
        sender=opts["sender"], recipient=opts["recipient"],
        local_address=opts["local_address"],
        family=socket.AF_INET if opts["ipv4"] else socket.AF_INET6 if opts["ipv6"] else socket.AF_UNSPEC,
        own_server=opts["own_server"],
    )
    plan.validate()  # bounds and the safety cap: before anything touches the network
    from smtpprobe.reach import check_resolves

    check_resolves(plan.host, plan.port, plan.family)  # one line, not a row of identical errors
    note = ensure_open_files(plan.effective_concurrency)
    if note:
        click.echo(f"smtpprobe: {note}", err=True)
    bar = ProgressBar(plan.connections)
    try:
        report = run_burst(plan, progress=bar)
    finally:
        bar.clear()
    if opts["fmt"] == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo("\n".join(table(report)))
    if report.interrupted:
        click.echo("smtpprobe: interrupted; every connection was closed", err=True)
        sys.exit(int(Exit.INTERRUPTED))
    if report.unreachable:
        first = next(iter(report.error_kinds), "no answer")
        from smtpprobe.display import safe

        click.echo(f"smtpprobe: {server}:{port} unreachable: {safe(first)}", err=True)
        sys.exit(int(Exit.NETWORK))
