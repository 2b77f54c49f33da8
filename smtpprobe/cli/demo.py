"""`smtpprobe demo`: start the lab in-process and show what smtpprobe sees, with nothing to set up.

Two transactions against the hardened lab: a message to a local mailbox over STARTTLS (accepted), and an
unauthenticated relay attempt (refused at RCPT, as a hardened MX must). Exit 0 when both go as expected.
"""

from __future__ import annotations

import sys

import click

from smtpprobe.cli.common import handle_errors
from smtpprobe.exitcodes import Exit


@click.command()
@handle_errors
def demo() -> None:
    """Start the embedded lab and send through it: one message, one refused relay attempt."""
    from smtpprobe.cli.send import execute
    from smtpprobe.lab import LabConfig, LabServer
    from smtpprobe.message import build_message
    from smtpprobe.transaction import Transaction

    config = LabConfig(port=0, submission_port=None, smtps_port=None)
    with LabServer(config) as lab:
        click.echo(f"=== smtpprobe demo: the lab (hardened profile) listens on {lab.host}:{lab.port}")
        session = dict(timeout=10.0, tls_name=lab.hostname, tls_ca_file=str(lab.cert_path))
        sender, helo = "demo@client.example", "client.example"

        click.echo("=== 1. a message to a local mailbox, over STARTTLS: expect it accepted")
        local = Transaction(helo=helo, sender=sender, recipients=["postmaster@lab.test"], tls="starttls",
                            message=build_message(sender, ["postmaster@lab.test"], helo=helo))
        delivered = execute(lab.host, lab.port, local, session) == Exit.OK

        click.echo("=== 2. an unauthenticated relay attempt: expect 554 5.7.1 at RCPT (exit code 15)")
        relay = Transaction(helo=helo, sender=sender, recipients=["victim@elsewhere.example"], quit_after="rcpt")
        refused = execute(lab.host, lab.port, relay, session) == Exit.RCPT
        received = len(lab.messages)

    ok = delivered and refused and received == 1
    click.echo(f"=== demo {'passed' if ok else 'FAILED'}: message delivered: {delivered}, relay refused: {refused}, "
               f"messages the lab received: {received}")
    click.echo("=== next: smtpprobe lab (keep it running) and smtpprobe send --server 127.0.0.1:2525 --to postmaster@lab.test")
    sys.exit(0 if ok else int(Exit.FAILED))
