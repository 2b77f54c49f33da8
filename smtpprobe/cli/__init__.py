"""The `smtpprobe` command group.

Subcommands are imported only when invoked: `smtpprobe --help` lists them from the table below
without importing any (dnspython, cryptography and aiosmtpd each cost tens to hundreds of ms).
"""

from __future__ import annotations

import importlib

import click

from smtpprobe import __version__

# name -> (module:attribute, one-line help shown by `smtpprobe --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "send": ("smtpprobe.cli.send:send", "Send one SMTP transaction and show the transcript (swaks-like)."),
    "lab": ("smtpprobe.cli.lab:lab", "Run the embedded target server (hardened MX or open profile)."),
    "demo": ("smtpprobe.cli.demo:demo", "Start the lab in-process, send through it, run the catalogue against it."),
    "audit": ("smtpprobe.cli.audit:audit", "Audit a sender domain's SPF, DKIM and DMARC DNS."),
    "burst": ("smtpprobe.cli.burst:burst", "Open a burst of connections to find a server's connection limits."),
    "explain": ("smtpprobe.cli.explain:explain", "Explain an SMTP reply code or a pasted bounce line."),
    "repl": ("smtpprobe.cli.repl:repl", "Interactive telnet-style SMTP session with STARTTLS/AUTH help."),
    "run": ("smtpprobe.cli.run:run", "Run conformance scenarios against a server (table, JSON, JUnit for CI)."),
    "doctor": ("smtpprobe.cli.doctor:doctor", "Self-check a refused sender's side and test the target up to RCPT."),
    "tls": ("smtpprobe.cli.tls:tls", "Scan a port's TLS: versions, cipher suites, certificate, DANE, MTA-STS."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smtpprobe")
def main() -> None:
    """SMTP compliance-testing client.

    Exit codes are listed in docs/exit-codes.md.
    """
