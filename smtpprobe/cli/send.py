"""`smtpprobe send`: one transaction, swaks-style, with an exit code per failing stage.

The options are defined once, in smtpprobe/send/options.py; a plain `smtpprobe send ...` is parsed there
without click (smtpprobe/cli/launch.py), and this click command parses everything else (help, errors).
"""

from __future__ import annotations

import click

from smtpprobe.cli.common import handle_errors
from smtpprobe.send.options import click_options
from smtpprobe.send.run import execute, send_main

__all__ = ["execute", "send"]


@click.command()
@click_options
@handle_errors
def send(**opts) -> None:
    """Send one SMTP (or LMTP) transaction and show the transcript.

    \b
    Examples:
      smtpprobe send --server 127.0.0.1:2525 --to postmaster@lab.test --from me@example.org
      smtpprobe send --server mx.example.org --to a@example.org --tls --quit-after rcpt
      smtpprobe send --server smtp.example.org:465 --tls-on-connect --auth PLAIN --auth-user me --to a@b.c
      smtpprobe send --socket /run/dovecot/lmtp --lmtp --to user@example.org
    """
    send_main(opts)
