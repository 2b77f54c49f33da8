"""The `smtpprobe` command group: its table of commands, click-free.

Subcommands are imported only when invoked: `smtpprobe --help` lists them from the table below
without importing any (dnspython, cryptography and aiosmtpd each cost tens to hundreds of ms). The click
group itself is in group.py; launch.py (the console script) answers `--help`, `--version` and a plain
`send` without importing click at all (~25 ms).
"""

from __future__ import annotations

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


HELP = """SMTP compliance-testing client.

Exit codes are listed in docs/exit-codes.md."""


def __getattr__(name: str) -> object:
    """`from smtpprobe.cli import main` still gives the click group, built on first use."""
    if name in ("main", "LazyGroup"):
        from smtpprobe.cli import group

        return getattr(group, name)
    raise AttributeError(name)
