"""`smtpprobe send`: one transaction, swaks-style, with an exit code per failing stage."""

from __future__ import annotations

import socket
import sys

import click

from smtpprobe.cli.common import handle_errors
from smtpprobe.errors import SmtpProbeError, StageFailure, UsageError
from smtpprobe.exitcodes import Exit
from smtpprobe.transaction import STAGES


@click.command()
@click.option("--server", "-s", metavar="HOST[:PORT]", help="Target server. Default: the MX of the first --to domain.")
@click.option("--port", "-p", multiple=True, metavar="PORT", help="Port or ROLE=PORT (default 25, or 465 with --tls-on-connect).")
@click.option("--to", "-t", "recipients", multiple=True, required=True, metavar="ADDR", help="Recipient (repeatable).")
@click.option("--from", "-f", "sender", metavar="ADDR", help="Envelope sender; '' for the null sender <>.")
@click.option("--helo", "--ehlo", "helo", metavar="NAME", help="Name for EHLO (HELO if EHLO is refused).")
@click.option("--force-helo", is_flag=True, help="Send plain HELO, never EHLO.")
@click.option("--tls", "tls", flag_value="starttls", help="Require STARTTLS.")
@click.option("--tls-optional", "tls", flag_value="optional", help="Use STARTTLS when offered.")
@click.option("--tls-on-connect", "tls", flag_value="implicit", help="Implicit TLS (port 465, RFC 8314).")
@click.option("--tls-verify", is_flag=True, help="Fail when the certificate chain or name does not verify.")
@click.option("--tls-ca-file", metavar="PEM", help="Trust these CA certificates instead of the system's.")
@click.option("--tls-sni", metavar="NAME", help="Name for SNI and certificate checks (default: the server).")
@click.option("--auth", "auth_mechanism", type=click.Choice(["PLAIN", "LOGIN", "CRAM-MD5"], case_sensitive=False))
@click.option("--auth-user", "-au", metavar="USER")
@click.option("--auth-password", "-ap", metavar="PASS", envvar="SMTPPROBE_AUTH_PASSWORD",
              help="Password (or env SMTPPROBE_AUTH_PASSWORD; prompted for when missing on a terminal).")
@click.option("--allow-plaintext-auth", is_flag=True, help="Allow AUTH on a connection without TLS.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="Add or replace a header.")
@click.option("--body", metavar="TEXT", help="Message body.")
@click.option("--attach", "attachments", multiple=True, metavar="FILE", help="Attach a file (repeatable).")
@click.option("--data", "data_file", metavar="FILE", help="Send this raw message ('-' for stdin) instead.")
@click.option("--max-file-size", type=click.IntRange(1, 1 << 20), default=50, show_default=True, metavar="MIB",
              help="Largest --data or --attach file, in MiB.")
@click.option("--quit-after", "-q", type=click.Choice(STAGES, case_sensitive=False), help="Stop after this stage.")
@click.option("--pipeline", is_flag=True, help="Send MAIL, RCPT and DATA in one batch (RFC 2920).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600), help="Seconds per reply.")
@click.option("--connect-timeout", type=click.FloatRange(0.1, 3600), help="Seconds for the TCP connect (default: --timeout).")
@click.option("--greeting-timeout", type=click.FloatRange(0.1, 3600), help="Seconds for the greeting (default: --timeout).")
@click.option("--local-address", metavar="IP", help="Source address to connect from.")
@click.option("-4", "ipv4", is_flag=True, help="IPv4 only.")
@click.option("-6", "ipv6", is_flag=True, help="IPv6 only.")
@click.option("--show-time", is_flag=True, help="Show how long each reply took.")
@click.option("--show-secrets", is_flag=True, help="Do not redact AUTH secrets in the transcript.")
@click.option("--json", "as_json", is_flag=True, help="Print the result and transcript as JSON (schema 1).")
@handle_errors
def send(**opts) -> None:
    """Send one SMTP transaction and show the transcript.

    \b
    Examples:
      smtpprobe send --server 127.0.0.1:2525 --to postmaster@lab.test --from me@example.org
      smtpprobe send --server mx.example.org --to a@example.org --tls --quit-after rcpt
      smtpprobe send --server smtp.example.org:465 --tls-on-connect --auth PLAIN --auth-user me --to a@b.c
    """
    tx, server, port = _plan(opts)
    family = socket.AF_INET if opts["ipv4"] else socket.AF_INET6 if opts["ipv6"] else socket.AF_UNSPEC
    session_options = dict(timeout=opts["timeout"], connect_timeout=opts["connect_timeout"],
                           greeting_timeout=opts["greeting_timeout"], local_address=opts["local_address"], family=family,
                           tls_verify=opts["tls_verify"], tls_name=opts["tls_sni"], tls_ca_file=opts["tls_ca_file"])
    sys.exit(execute(server, port, tx, session_options, opts["as_json"], opts["show_time"], opts["show_secrets"]))


def execute(server: str, port: int, tx, session_options: dict, as_json: bool = False, show_time: bool = False,
            show_secrets: bool = False) -> int:
    """Run the transaction, printing the transcript live (or JSON at the end); return the exit code."""
    from smtpprobe import transaction
    from smtpprobe.session import Session
    from smtpprobe.transcript import TextRenderer, Transcript

    transcript = Transcript()
    if not as_json:
        renderer = TextRenderer(show_time, sys.stdout.isatty(), show_secrets)
        transcript.listener = lambda event: _echo(renderer.lines(event), event.kind == "error")
    session = Session(server, port, transcript=transcript, **session_options)
    error: SmtpProbeError | None = None
    try:
        transaction.run(session, tx)
    except SmtpProbeError as exc:
        error = exc
        transcript.error(str(exc))
    finally:
        session.close()
    if as_json:
        import json

        click.echo(json.dumps(_result(server, port, session, transcript, tx, error, show_secrets), indent=2))
    elif error is None:
        transcript.info("Connection closed with remote host.")
    return int(error.exit_code) if error else 0


def _plan(opts: dict):
    from smtpprobe.message import build_message, read_message_file
    from smtpprobe.ports import single_port
    from smtpprobe.target import parse_server
    from smtpprobe.transaction import Transaction

    given = parse_server(opts["server"], 0)[1] if opts["server"] else None  # a second port must agree
    tls, opts["port"] = opts["tls"] or "none", single_port(opts["port"], given)
    default_port = opts["port"] or (465 if tls == "implicit" else 25)
    recipients = list(opts["recipients"])
    from smtpprobe.hints import bare_recipient

    if problem := next(filter(None, map(bare_recipient, recipients)), None):
        raise UsageError(problem)
    if opts["server"]:
        server, port = parse_server(opts["server"], default_port)
        if opts["port"]:
            port = opts["port"]
    else:
        from smtpprobe.mx import best_mx

        domain = recipients[0].rpartition("@")[2] if "@" in recipients[0] else ""
        if not domain:
            raise UsageError(f"--to {recipients[0]!r} has no domain to look up an MX for; give --server")
        server, port = best_mx(domain, opts["timeout"]), default_port
        click.echo(f"=== MX for {domain}: {server} (the lowest preference)")
    from smtpprobe.identity import default_helo, default_sender

    helo = opts["helo"] or default_helo()  # a strict server refuses a bare host name (504)
    sender = opts["sender"] if opts["sender"] is not None else default_sender(helo)
    password = opts["auth_password"] or ""
    if opts["auth_mechanism"]:
        if not opts["auth_user"]:
            raise UsageError("--auth needs --auth-user")
        if opts["auth_password"] is None:
            if not sys.stdin.isatty():
                raise UsageError("--auth needs a password: --auth-password, SMTPPROBE_AUTH_PASSWORD, or a terminal")
            password = click.prompt("Password", hide_input=True, err=True)
    if opts["data_file"]:
        message = read_message_file(opts["data_file"], opts["max_file_size"] << 20)
    elif opts["quit_after"] in (None, "dot"):
        message = build_message(sender, recipients, list(opts["headers"]), opts["body"], list(opts["attachments"]), helo,
                                opts["max_file_size"] << 20)
    else:
        message = None
    tx = Transaction(
        helo=helo, sender=sender, recipients=recipients, message=message, tls=tls, force_helo=opts["force_helo"],
        auth_mechanism=opts["auth_mechanism"], auth_user=opts["auth_user"] or "", auth_password=password,
        allow_plaintext_auth=opts["allow_plaintext_auth"], quit_after=(opts["quit_after"] or "").lower() or None,
        pipeline=opts["pipeline"],
    )
    return tx, server, port


def _echo(lines: list[str], to_stderr: bool) -> None:
    for line in lines:
        click.echo(line, err=to_stderr)


def _result(server, port, session, transcript, tx, error, show_secrets) -> dict:
    return {
        "schema": 1,
        "server": server,
        "port": port,
        "peer": session.peer[0] if session.peer else None,
        "ok": error is None,
        "exit_code": int(error.exit_code) if error else int(Exit.OK),
        "failed_stage": getattr(error, "stage", None) if isinstance(error, StageFailure) else
        ("network" if error and error.exit_code == Exit.NETWORK else "protocol" if error else None),
        "error": str(error) if error else None,
        "accepted_recipients": tx.accepted,
        "tls": session.tls.to_dict() if session.tls else None,
        "extensions": session.extensions,
        "transcript": transcript.to_json(show_secrets),
    }
