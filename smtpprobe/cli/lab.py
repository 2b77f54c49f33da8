"""`smtpprobe lab`: run the embedded target server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from smtpprobe import tlsfiles
from smtpprobe.cli.common import handle_errors
from smtpprobe.exitcodes import Exit
from smtpprobe.lab.config import DEFAULT_MAX_CONNECTIONS_PER_CLIENT, LabConfig, parse_rate, parse_user

PORT = click.IntRange(0, 65535)


def _say(text: str) -> None:
    click.echo(f"lab: {text}")
    sys.stdout.flush()  # stdout is a pipe when a test or a script reads the listening lines


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (IPv6: ::1).")
@click.option("--port", type=PORT, default=2525, show_default=True,
              help="MX listener (STARTTLS); 0 = a free port, and free ports for the others too (printed).")
@click.option("--submission-port", type=PORT, help="Submission (587 role). Default 5870, or free with --port 0.")
@click.option("--smtps-port", type=PORT, help="Implicit TLS (465 role). Default 4650, or free with --port 0.")
@click.option("--profile", type=click.Choice(["hardened", "open"]), default="hardened", show_default=True)
@click.option(
    "--hostname", default="mx.lab.test", show_default=True, help="Name in banner, EHLO, certificate."
)
@click.option("--domain", "domains", multiple=True, help="Local domain (repeatable). Default: lab.test.")
@click.option(
    "--user", "users", multiple=True,
    help="NAME:PASSWORD for AUTH (repeatable). Default: user `user` with a random password, printed at start."
)
@click.option(
    "--max-connections-per-client",
    type=click.IntRange(0),
    default=DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    show_default=True,
    help="Concurrent connections per client address before 421 (0 = unlimited).",
)
@click.option("--rate-limit", metavar="N/SECONDS", help="New connections per client per window before 421.")
@click.option("--greet-pause", type=click.FloatRange(0, 10), default=0.0, show_default=True,
              help="Hardened: wait this long before the greeting, to catch clients that talk first.")
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), help="Write each message here.")
@click.option("--cert", type=click.Path(path_type=Path), help="PEM certificate (with --key).")
@click.option("--key", type=click.Path(path_type=Path), help="PEM private key.")
@handle_errors(prefix="smtpprobe lab")
def lab(
    host: str,
    port: int,
    submission_port: int | None,
    smtps_port: int | None,
    profile: str,
    hostname: str,
    domains: tuple[str, ...],
    users: tuple[str, ...],
    max_connections_per_client: int,
    rate_limit: str | None,
    greet_pause: float,
    maildir: Path | None,
    cert: Path | None,
    key: Path | None,
) -> None:
    """Run the embedded target server: a hardened MX (default) or an open one.

    Mail is never delivered: it is discarded, or written one file per message with --maildir.
    Stops on Ctrl-C or SIGTERM. `--port 0` picks free ports for every listener and prints them, with a
    line to paste into a shell for the examples in the docs (PORT, SUBMISSION_PORT, SMTPS_PORT).
    """
    if submission_port is None:
        submission_port = 0 if port == 0 else 5870
    if smtps_port is None:
        smtps_port = 0 if port == 0 else 4650
    config = LabConfig(
        profile=profile,  # type: ignore[arg-type]
        host=host,
        port=port,
        submission_port=submission_port,
        smtps_port=smtps_port,
        hostname=hostname,
        domains=domains or LabConfig.domains,
        users=dict(parse_user(u) for u in users) if users else {"user": _random_password()},
        max_connections_per_client=max_connections_per_client,
        rate_limit=parse_rate(rate_limit) if rate_limit else None,
        greet_pause=greet_pause,
        maildir=maildir,
        keep_messages=0,  # a long-running lab must not grow; --maildir keeps mail if wanted
        cert=cert,
        key=key,
    )
    for option, path in (("--cert", cert), ("--key", key)):  # after "--cert and --key go together"
        tlsfiles.check(str(path) if path else None, option)  # a FIFO would hang OpenSSL's load
    _serve(config)


def _random_password() -> str:
    """A lab left running must not take a guessable login: a fresh password each start, printed."""
    import secrets

    return secrets.token_urlsafe(12)


def _exposed(host: str) -> bool:
    """True when HOST is not a loopback address: others can reach the lab."""
    import ipaddress

    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host != "localhost"  # a name: it may resolve to anything


def shell_variables(server) -> str:
    """`export PORT=... SUBMISSION_PORT=... SMTPS_PORT=...`: the names the docs' examples use."""
    names = {"mx": "PORT", "submission": "SUBMISSION_PORT", "smtps": "SMTPS_PORT"}
    ports = {"mx": server.port, "submission": server.submission_port, "smtps": server.smtps_port}
    return "export " + " ".join(f"{names[role]}={port}" for role, port in ports.items() if port)


def _start(server) -> None:
    """Start, with what to try next when a port is taken (another lab, or the port a test left behind)."""
    from smtpprobe.lab.server import LabStartError

    try:
        server.start()
    except LabStartError as exc:
        if "Address already in use" not in str(exc):
            raise
        raise LabStartError(
            f"{exc}; is another lab running? `smtpprobe lab --port 0` picks free ports and prints them"
        ) from None


def _serve(config: LabConfig) -> None:
    from smtpprobe.lab.server import LabServer

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    def on_message(message: object) -> None:
        from smtpprobe.lab.store import ReceivedMessage

        assert isinstance(message, ReceivedMessage)
        to = ", ".join(f"<{r}>" for r in message.rcpt_tos)
        sender = "<>" if message.mail_from == "<>" else f"<{message.mail_from}>"
        _say(f"{message.listener}: {message.queue_id} from {sender} to {to}, {len(message.data)} bytes")

    # Handlers first: a Ctrl-C while the lab starts must also end quietly.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = LabServer(config, on_message=on_message)
    try:
        _start(server)
        if _exposed(config.host):
            relay = " an open relay (open profile) and" if not config.hardened else ""
            click.echo(f"lab: WARNING: listening on {config.host}, not a loopback address: anyone who can reach "
                       f"it can use{relay} a test server with the AUTH users below; keep it on 127.0.0.1 or ::1 "
                       "unless you mean it", err=True)
        _say(f"{config.profile} profile, hostname {config.hostname}")
        for listening in server.listening.values():
            _say(str(listening))
        _say(f"local domains: {', '.join(config.domains)}")
        _say("AUTH users: " + ", ".join(f"{name}/{password}" for name, password in config.users.items()))
        origin = "your own" if config.cert else "self-signed"
        _say(f"TLS certificate ({origin}): {server.cert_path}")
        if config.hardened:
            limit = config.max_connections_per_client or "unlimited"
            _say(f"limits: {limit} connections per client, rate limit {config.rate_limit or 'off'}")
            if config.greet_pause:
                _say(f"greet pause: {config.greet_pause:g}s (a client that talks first gets 554 5.5.0)")
        _say(f"mail is written to {config.maildir}" if config.maildir else "mail is discarded")
        _say("for the examples in the docs, paste: " + shell_variables(server))
        _say("press Ctrl-C to stop")
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _say("stopped")
    sys.exit(Exit.OK)
