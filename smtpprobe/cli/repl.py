"""`smtpprobe repl`: an interactive, telnet-style SMTP session with help for STARTTLS, AUTH and DATA."""

from __future__ import annotations

import os
import sys

import click

from smtpprobe.cli.common import handle_errors


@click.command()
@click.argument("target", metavar="HOST[:PORT]")
@click.option("--port", "-p", "ports", multiple=True, metavar="PORT", help="Port or ROLE=PORT, as in HOST:PORT.")
@click.option("--tls-on-connect", is_flag=True, help="Implicit TLS from the start (port 465, RFC 8314).")
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds to wait for each reply.",
)
@click.option("--tls-verify", is_flag=True, help="Fail the handshake when the certificate does not verify.")
@click.option("--tls-sni", metavar="NAME", help="Name for SNI and certificate checks (default: HOST).")
@click.option("--no-notes", is_flag=True, help="Do not show the one-line note under each reply.")
@click.option("--proxy-version", type=click.IntRange(1, 2), help="Send a PROXY protocol header first (1 or 2).")
@click.option("--proxy-source", metavar="IP", help="The client the PROXY header announces (default: ours).")
@handle_errors
def repl(
    target: str, ports: tuple[str, ...], tls_on_connect: bool, timeout: float, tls_verify: bool, tls_sni: str | None,
    no_notes: bool, proxy_version: int | None, proxy_source: str | None,
) -> None:
    """Talk SMTP by hand: each line is sent as typed, each reply shown with what its code means.

    Slash commands do the hard parts: /starttls, /auth plain|login [USER], /data [FILE], /ehlo, /rset,
    /raw TEXT (escaped bytes), /explain CODE, /save FILE, /help, /quit.

    With standard input not a terminal, reads the same lines without a prompt, waits for each reply,
    and exits 0 when the last reply was 2xx/3xx, 1 for 4xx/5xx, 2 for a bad line, 3 when the connection
    dropped or a reply did not come, 4 for a malformed reply, 12 when TLS failed.

    \b
    Examples:
      smtpprobe repl 127.0.0.1:2525
      smtpprobe repl smtp.example.org:465 --tls-on-connect
      printf 'EHLO me\\nMAIL FROM:<a@example.org>\\n' | smtpprobe repl mx.example.org
    """
    from smtpprobe.ports import single_port
    from smtpprobe.repl.connection import ReplSession
    from smtpprobe.repl.engine import Repl
    from smtpprobe.target import parse_server
    from smtpprobe.transcript import Transcript

    host, given = parse_server(target, 0)
    port = single_port(ports, given) or given or (465 if tls_on_connect else 25)
    piped = not sys.stdin.isatty()
    if piped:
        from smtpprobe.repl.piped import PipedConsole

        console = PipedConsole()
    else:
        from smtpprobe.repl.terminal import TerminalConsole

        console = TerminalConsole()
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    proxy = {"version": proxy_version, "source": proxy_source} if proxy_version else None  # servers behind HAProxy
    session = ReplSession(
        host, port, timeout=timeout, tls_verify=tls_verify, tls_name=tls_sni, transcript=Transcript(), proxy=proxy
    )
    engine = Repl(session, console, notes_on=not no_notes, colour=colour)
    sys.exit(console.run(engine, tls_on_connect))
