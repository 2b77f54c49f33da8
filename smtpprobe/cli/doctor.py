"""`smtpprobe doctor`: thin adapter; the work is in smtpprobe.doctor (imported only here)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from smtpprobe import tlsfiles
from smtpprobe.cli.common import handle_errors
from smtpprobe.display import safe
from smtpprobe.errors import UsageError
from smtpprobe.exitcodes import Exit


@click.command()
@click.option("--from", "sender", required=True, metavar="ADDR", help="Envelope sender you really use.")
@click.option("--ip", required=True, metavar="IP", help="The IP your mail leaves from.")
@click.option("--helo", required=True, metavar="NAME", help="The EHLO/HELO name your server really sends.")
@click.option("--server", "-s", metavar="HOST[:PORT]", help="Target server (default: the MX of the --to domain).")
@click.option("--to", "-t", metavar="ADDR", help="A recipient there (default with --server: <postmaster>).")
@click.option("--port", "-p", "ports", metavar="ROLE=PORT", multiple=True,
              help="Ports to test: 25,587,465 or ROLE=PORT items (mx=2525,submission=5870,smtps=4650); "
              "repeatable. Default 25.")
@click.option("--dkim-selector", "selectors", multiple=True, metavar="SEL", help="DKIM selector (repeatable).")
@click.option("--resolver", metavar="IP[:PORT]", help="DNS server for the audit and the MX lookup.")
@click.option("--dns-timeout", type=float, default=5.0, show_default=True, help="Seconds per DNS query.")
@click.option("--dnsbl", multiple=True, metavar="ZONE", help="DNS blocklist zone (repeatable; replaces the defaults).")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=30.0, show_default=True,
              help="Seconds per SMTP reply.")
@click.option("--send", is_flag=True, help="Go on through DATA with a small test message (default: stop after RCPT).")
@click.option("--auth-user", metavar="USER", help="Log in on submission/smtps ports (else they stop before AUTH).")
@click.option("--auth-password", metavar="PASS", envvar="SMTPPROBE_AUTH_PASSWORD",
              help="Password (or env SMTPPROBE_AUTH_PASSWORD; prompted for on a terminal).")
@click.option("--auth", "auth_mechanism", type=click.Choice(["PLAIN", "LOGIN", "CRAM-MD5"], case_sensitive=False),
              default="PLAIN", show_default=True)
@click.option("--tls-ca-file", metavar="PEM", help="Trust these CA certificates (reported, never required).")
@click.option("--local-address", metavar="IP", help="Connect from this local address (e.g. the --ip).")
@click.option("--report", "report_file", metavar="FILE", help="Also write the report: HTML if FILE ends in .html, "
              "else Markdown.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the verdict line, not the whole report.")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@handle_errors(prefix="smtpprobe doctor")
def doctor(sender: str, ip: str, helo: str, server: str | None, to: str | None, ports: tuple[str, ...],
           selectors: tuple[str, ...], resolver: str | None, dns_timeout: float, dnsbl: tuple[str, ...],
           timeout: float, send: bool, auth_user: str | None, auth_password: str | None, auth_mechanism: str,
           tls_ca_file: str | None, local_address: str | None, report_file: str | None, quiet: bool,
           debug: bool) -> None:
    """Check your side before writing to a receiving admin: your DNS (SPF for --ip, DKIM, DMARC, PTR,
    HELO, blocklists), then the target up to RCPT TO with your real HELO and sender, every refusal
    explained, and a verdict separating your side from their policy.

    \b
    Exit: 0 nothing wrong on your side; 1 a fault on your side; 2 bad input;
          3 nothing wrong found but no port of the target could be reached.
    \b
    Examples:
      smtpprobe doctor --from me@example.org --ip 192.0.2.25 --helo mail.example.org --to them@example.net
      smtpprobe doctor --from me@example.org --ip 192.0.2.25 --helo mail.example.org \\
          --server mx.example.net --port 25,587,465 --report report.html
    """
    from smtpprobe.doctor.plan import Options
    from smtpprobe.doctor.run import run_doctor

    if report_file is not None:
        _check_writable(report_file)
    tlsfiles.check(tls_ca_file, "--tls-ca-file")  # before the minutes of probing: a FIFO hangs OpenSSL
    password = auth_password or ""
    if auth_user and auth_password is None:
        if not sys.stdin.isatty():
            raise UsageError("--auth-user needs a password: --auth-password, SMTPPROBE_AUTH_PASSWORD, or a terminal")
        password = click.prompt("Password", hide_input=True, err=True)
    opts = Options(sender=sender, ip=ip, helo=helo, to=to, server=server, ports=",".join(ports) or None, selectors=list(selectors),
                   resolver=resolver, dns_timeout=dns_timeout, dnsbl=list(dnsbl) if dnsbl else None,
                   timeout=timeout, send=send, auth_user=auth_user, auth_password=password,
                   auth_mechanism=auth_mechanism.upper(), tls_ca_file=tls_ca_file, local_address=local_address)
    report = run_doctor(opts, progress=lambda line: click.echo(f"doctor: {safe(line)}", err=True))
    from smtpprobe.doctor.facts import headline
    from smtpprobe.doctor.markdown import render_markdown

    if quiet:
        click.echo(headline(report)[0])
    else:
        click.echo(render_markdown(report))
    if report_file is not None:
        from smtpprobe.doctor.html import render_html

        text = render_html(report) if report_file.lower().endswith((".html", ".htm")) else render_markdown(report)
        try:
            Path(report_file).write_text(text, encoding="utf-8")
        except OSError as exc:
            click.echo(f"smtpprobe doctor: --report: {exc.strerror}: {report_file}", err=True)
            sys.exit(int(Exit.USAGE))
        click.echo(f"doctor: report written to {report_file}", err=True)
    sys.exit(report.exit_code)


def _check_writable(path: str) -> None:
    """Fail before the minutes of probing, not after."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--report: {path} is a directory")
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise UsageError(f"--report: no such directory: {p.parent}")
