"""`smtpprobe tls`: a port's TLS posture (versions, suites, groups, certificate), DANE and MTA-STS."""

from __future__ import annotations

import json
import re
import sys

import click

from smtpprobe import tlsfiles
from smtpprobe.cli.common import handle_errors
from smtpprobe.errors import UsageError

_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*")


@click.command()
@click.option(
    "--server", "-s", required=True, metavar="HOST[:PORT]", help="The server to scan (default port 25)."
)
@click.option("--port", "-p", type=click.IntRange(1, 65535), help="Port (overrides the one in --server).")
@click.option(
    "--starttls", "mode", flag_value="starttls", help="STARTTLS first (default on every port but 465)."
)
@click.option("--tls-on-connect", "mode", flag_value="implicit", help="Implicit TLS (default on port 465).")
@click.option(
    "--name",
    metavar="MX",
    help="Name the certificate must carry, and SNI (default: the host; for an "
    "address, the name in the server's greeting).",
)
@click.option(
    "--role",
    type=click.Choice(["mx", "submission", "smtps"]),
    help="How to judge (default by port: 25 mx, 587 submission, 465 smtps; else by --starttls).",
)
@click.option("--tls-ca-file", metavar="PEM", help="Trust these CA certificates instead of the system's.")
@click.option(
    "--dane", is_flag=True, help="Also check TLSA records at _PORT._tcp.NAME (needs a validating resolver)."
)
@click.option(
    "--mta-sts", "mta_sts", metavar="DOMAIN", help="Also check DOMAIN's MTA-STS policy (and TLS-RPT)."
)
@click.option(
    "--resolver", metavar="IP[:PORT]", help="DNS resolver for DANE/MTA-STS (default: the system's)."
)
@click.option("--helo", default="smtpprobe.invalid", show_default=True, help="EHLO name before STARTTLS.")
@click.option(
    "--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 120), help="Seconds per question."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@handle_errors(prefix="smtpprobe tls")
def tls(
    server: str,
    port: int | None,
    mode: str | None,
    name: str | None,
    role: str | None,
    tls_ca_file: str | None,
    dane: bool,
    mta_sts: str | None,
    resolver: str | None,
    helo: str,
    timeout: float,
    fmt: str,
    debug: bool,
) -> None:
    """Scan a mail server port's TLS: versions SSLv2..TLS 1.3, suites per version with a grade, key-exchange
    groups, the certificate chain; with --dane and --mta-sts, what authenticating senders check.

    Exit 0: nothing fails; 1: a finding fails (RFC 8996, RFC 9325, ...); 3: unreachable; 12: no STARTTLS."""
    from smtpprobe.target import parse_server
    from smtpprobe.tlsscan import findings as fnd
    from smtpprobe.tlsscan import render
    from smtpprobe.tlsscan.probe import Endpoint
    from smtpprobe.tlsscan.scan import scan

    host, parsed_port = parse_server(server, 25)
    tlsfiles.check(tls_ca_file, "--tls-ca-file")  # a FIFO would hang OpenSSL's load
    if name is not None and not _NAME.fullmatch(name.rstrip(".")) and not _is_address(name):
        raise UsageError(f"--name {name!r}: want a host name like mx.example.org")
    if resolver is not None:
        from smtpprobe.tlsscan.dnsq import resolver_address

        if not _is_address(resolver_address(resolver)[0]):
            raise UsageError(f"--resolver {resolver!r}: want an IP address, IP:PORT or [IPv6]:PORT")
    port = port or parsed_port
    starttls = (mode or ("implicit" if port == 465 else "starttls")) == "starttls"
    role = role or fnd.role_for(port, starttls)
    if not name and not _is_address(host):
        name = host  # an address: the scan takes the name in the server's greeting
    result = scan(Endpoint(host, port, starttls, helo=helo, timeout=timeout), name, tls_ca_file)
    found = fnd.assess(result, role)
    extra: dict = {}
    extra_lines: list[str] = []
    if dane or mta_sts:
        from smtpprobe.tlsscan.mailauth import check_dane, check_mta_sts

        if dane:
            report = check_dane(result.name or host, port, result, resolver, timeout)
            extra["dane"], found = report.to_dict(), found + report.findings
            extra_lines += report.lines()
        if mta_sts:
            report = check_mta_sts(mta_sts, result.name or host, result, resolver, timeout, tls_ca_file)
            extra["mta_sts"], found = report.to_dict(), found + report.findings
            extra_lines += report.lines()
    if fmt == "json":
        click.echo(json.dumps(render.to_json(result, role, found, extra), indent=2))
    else:
        click.echo(render.text(result, role, found, extra_lines))
    sys.exit(1 if any(f.severity == "fail" for f in found) else 0)


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False
