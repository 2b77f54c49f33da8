"""`smtpprobe demo`: start the lab in-process and show what smtpprobe does, with nothing to set up.

Against the hardened lab: a message to a local mailbox over STARTTLS (accepted), an unauthenticated relay
attempt (refused at RCPT, as a hardened MX must), and the built-in conformance catalogue on all three port
roles under the hardened policy. Exit 0 when everything went as expected.
"""

from __future__ import annotations

import sys

import click

from smtpprobe.cli.common import handle_errors
from smtpprobe.exitcodes import Exit


@click.command()
@handle_errors
def demo() -> None:
    """Start the embedded lab; send through it; run the conformance catalogue against it."""
    from smtpprobe.cli.send import execute
    from smtpprobe.lab import LabConfig, LabServer
    from smtpprobe.message import build_message
    from smtpprobe.transaction import Transaction

    config = LabConfig(port=0, submission_port=0, smtps_port=0)
    with LabServer(config) as lab:
        click.echo(f"=== smtpprobe demo: the lab (hardened profile) listens on {lab.host}:{lab.port}")
        session = {"timeout": 10.0, "tls_name": lab.hostname, "tls_ca_file": str(lab.cert_path)}
        sender, helo = "demo@client.example", "client.example"

        click.echo("=== 1. a message to a local mailbox, over STARTTLS: expect it accepted")
        local = Transaction(helo=helo, sender=sender, recipients=["postmaster@lab.test"], tls="starttls",
                            message=build_message(sender, ["postmaster@lab.test"], helo=helo))
        delivered = execute(lab.host, lab.port, local, session) == Exit.OK

        click.echo("=== 2. an unauthenticated relay attempt: expect 554 5.7.1 at RCPT (exit code 15)")
        relay = Transaction(helo=helo, sender=sender, recipients=["victim@elsewhere.example"], quit_after="rcpt")
        refused = execute(lab.host, lab.port, relay, session) == Exit.RCPT
        received = len(lab.messages)

        click.echo("=== 3. the conformance catalogue on the mx, submission and smtps ports, hardened policy "
                   "(the security probes: smtpprobe run --only attack)")
        conformant = _catalogue(lab, helo) == Exit.OK

    ok = delivered and refused and received == 1 and conformant
    click.echo(f"=== demo {'passed' if ok else 'FAILED'}: message delivered: {delivered}, relay refused: {refused}, "
               f"messages the lab received: {received}, catalogue passed: {conformant}")
    click.echo("=== next: smtpprobe lab --port 0 (keep it running; paste the export line it prints), then in another "
               "terminal: smtpprobe send --server 127.0.0.1:$PORT --to postmaster@lab.test --helo client.example.org")
    sys.exit(0 if ok else int(Exit.FAILED))


def _catalogue(lab, helo: str) -> int:
    import time

    from smtpprobe.report import table
    from smtpprobe.scenario import catalogue_path, load_paths
    from smtpprobe.scenario.runner import run_all
    from smtpprobe.scenario.target import build_target
    from smtpprobe.scenario.verdict import exit_code

    ports = (f"mx={lab.port}", f"submission={lab.submission_port}", f"smtps={lab.smtps_port}")
    user, password = next(iter(lab.users.items()))
    target = build_target(f"{lab.host}", ports, {}, {
        "helo": helo, "sender": None, "local_rcpt": "postmaster@lab.test", "foreign_rcpt": None,
        "auth_user": user, "auth_password": password, "policy": "hardened", "timeout": None,
    })
    started = time.monotonic()
    # The conformance checks; the security probes (tag "attack", opt-in): `smtpprobe run --only attack`;
    # the TLS scans (tag "tls-posture") look up DANE and MTA-STS in the DNS: `smtpprobe run --only tls-posture`.
    scenarios = [s for s in load_paths([catalogue_path()]) if not s.matches(("attack", "tls-posture"))]
    results = run_all(scenarios, target, concurrency=4)
    click.echo(table.render(target, results, time.monotonic() - started), nl=False)
    return int(exit_code(results))
