"""`smtpprobe send` without the command-line layer: options (a dict, from click or the lean parser) -> a
Transaction and a Session -> the transcript, live or as JSON -> an exit code. Imports nothing heavy: ssl and
cryptography only with TLS, dnspython only without --server, email only for attachments or 8-bit text."""

from __future__ import annotations

import math
import socket
import sys

from smtpprobe.errors import SmtpProbeError, StageFailure, UsageError
from smtpprobe.exitcodes import Exit


def send_main(opts: dict) -> None:
    """Run `send` with parsed options; exits with the transaction's code."""
    tx, server, port = plan(opts)
    if opts["dump_message"]:
        pieces = [tx.message or b""] if not hasattr(tx.message, "chunks") else tx.message.chunks()
        for piece in pieces:  # a --data file streamed, never whole in memory
            sys.stdout.buffer.write(piece)
        sys.stdout.flush()
        sys.exit(0)
    sys.exit(
        execute(
            server, port, tx, session_options(opts), opts["as_json"], opts["show_time"], opts["show_secrets"]
        )
    )


def session_options(opts: dict) -> dict:
    for name in ("timeout", "connect_timeout", "greeting_timeout"):
        if opts[name] is not None and not math.isfinite(opts[name]):  # NaN passes click's FloatRange
            from smtpprobe import validate

            validate.number(opts[name], f"--{name.replace('_', '-')}", 0.001, validate.MAX_TIMEOUT)
    family = socket.AF_INET if opts["ipv4"] else socket.AF_INET6 if opts["ipv6"] else socket.AF_UNSPEC
    tls_client = None
    if opts["tls_cert"] or opts["tls_protocol"] or opts["tls_cipher"]:
        from smtpprobe.tls import ClientTLS

        tls_client = ClientTLS(opts["tls_cert"], opts["tls_key"], opts["tls_protocol"], opts["tls_cipher"])
    elif opts["tls_key"]:
        raise UsageError("--tls-key needs --tls-cert")
    from smtpprobe import tlsfiles  # files OpenSSL will open: checked now, before connecting

    for option in ("tls_ca_file", "tls_cert", "tls_key"):
        tlsfiles.check(opts[option], "--" + option.replace("_", "-"))
    return {
        "timeout": opts["timeout"],
        "connect_timeout": opts["connect_timeout"],
        "greeting_timeout": opts["greeting_timeout"],
        "local_address": opts["local_address"],
        "local_port": opts["local_port"],
        "family": family,
        "tls_verify": opts["tls_verify"],
        "tls_name": opts["tls_sni"],
        "tls_ca_file": opts["tls_ca_file"],
        "tls_client": tls_client,
        "socket_path": opts["socket_path"],
        "pipe_command": opts["pipe_command"],
        "proxy": _proxy(opts),
    }


def execute(
    server: str,
    port: int,
    tx,
    session_options: dict,
    as_json: bool = False,
    show_time: bool = False,
    show_secrets: bool = False,
) -> int:
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

        print(json.dumps(_result(server, port, session, transcript, tx, error, show_secrets), indent=2))
    elif error is None and session.peer is not None and not transcript.events[-1].text.startswith("hung up"):
        transcript.info("Connection closed with remote host.")
    return int(error.exit_code) if error else 0


def plan(opts: dict):
    from smtpprobe import validate
    from smtpprobe.hints import bare_recipient
    from smtpprobe.message import build_message, read_message_file
    from smtpprobe.ports import single_port
    from smtpprobe.protocol.esmtp import Wanted
    from smtpprobe.target import parse_server
    from smtpprobe.transaction import Transaction

    tls = opts["tls"] or "none"
    given = parse_server(opts["server"], 0)[1] if opts["server"] and not opts["socket_path"] else None
    opts["port"] = single_port(opts["port"], given)  # one spelling for every command; a second port must agree
    default_port = opts["port"] or (465 if tls == "implicit" else 24 if opts["lmtp"] else 25)
    to, cc = list(opts["recipients"]), list(opts["cc"])
    recipients = [*to, *cc, *opts["bcc"]]  # the envelope; Bcc is named nowhere in the message
    for option, addresses in (("--to", to), ("--cc", cc), ("--bcc", opts["bcc"])):
        for address in addresses:
            if problem := bare_recipient(address, option):
                raise UsageError(problem)
            validate.address(address, option)  # here to name the option; the Transaction says --to for all
    if opts["socket_path"] and opts["pipe_command"]:
        raise UsageError("--socket and --pipe exclude each other")
    if opts["proxy_version"] and (opts["socket_path"] or opts["pipe_command"]):
        raise UsageError("--proxy-version needs a TCP connection (not --socket or --pipe)")
    if sum(1 for k in ("quit_after", "drop_after", "drop_after_send") if opts[k]) > 1:
        raise UsageError("--quit-after, --drop-after and --drop-after-send exclude each other")
    if opts["local_port"] and (opts["socket_path"] or opts["pipe_command"]):
        raise UsageError("--local-port needs a TCP connection (not --socket or --pipe)")
    if opts["prdr"] and opts["lmtp"]:
        raise UsageError("--prdr is for SMTP: LMTP already replies once per recipient after the message")
    if opts["socket_path"] or opts["pipe_command"]:
        server, port = opts["server"] or "", default_port  # a name for --tls-sni's default, if any
    elif opts["server"]:
        server, port = parse_server(opts["server"], default_port)
        if opts["port"]:
            port = opts["port"]
    elif opts["dump_message"]:
        server, port = "", default_port
    else:
        from smtpprobe.mx import best_mx

        domain = recipients[0].rpartition("@")[2] if "@" in recipients[0] else ""
        if not domain:
            raise UsageError(f"--to {recipients[0]!r} has no domain to look up an MX for; give --server")
        server, port = best_mx(domain, opts["timeout"]), default_port
        print(f"=== MX for {domain}: {server} (the lowest preference)")
    if opts["proxy_version"] is None and any(
        opts[k] is not None for k in ("proxy_source", "proxy_source_port", "proxy_dest", "proxy_dest_port")
    ):
        raise UsageError("--proxy-source/--proxy-dest need --proxy-version 1 or 2")
    from smtpprobe.identity import default_helo

    helo = opts["helo"] or default_helo()  # a strict server refuses a bare host name (504)
    sender = opts["sender"] if opts["sender"] is not None else f"{_user()}@{helo}"
    password = opts["auth_password"] or ""
    if opts["auth_mechanism"] and not opts["dump_message"]:
        if not opts["auth_user"]:
            raise UsageError("--auth needs --auth-user")
        if opts["auth_password"] is None:
            if not sys.stdin.isatty():
                raise UsageError(
                    "--auth needs a password: --auth-password, SMTPPROBE_AUTH_PASSWORD, or a terminal"
                )
            import getpass

            password = getpass.getpass("Password: ")
    stop = opts["quit_after"] or opts["drop_after"] or opts["drop_after_send"]
    limit = opts["max_file_size"] << 20
    if opts["drop_after_send"] == "data" and opts["chunking"]:
        stop = "dot"  # with BDAT the data stage sends the first chunk of the message: build it
    if opts["data_file"]:
        message = read_message_file(opts["data_file"], limit)
    elif stop in (None, "dot") or opts["dump_message"]:
        headers, attachments = list(opts["headers"]), list(opts["attachments"])
        message = build_message(sender, to, headers, opts["body"], attachments, helo, limit, cc)
    else:
        message = None
    wanted = Wanted(
        body_type=opts["body_type"],
        dsn_notify=opts["dsn_notify"],
        dsn_ret=opts["dsn_ret"],
        dsn_envid=opts["dsn_envid"],
        dsn_orcpt=opts["dsn_orcpt"],
        requiretls=opts["requiretls"],
        prdr=opts["prdr"],
        auto=not opts["no_auto_params"],
        mail_extra=list(opts["mail_params"]),
        rcpt_extra=list(opts["rcpt_params"]),
    )
    xclient = {
        key[len("xclient_") :].upper(): value
        for key, value in opts.items()
        if key.startswith("xclient_") and value is not None
    }
    tx = Transaction(
        helo=helo,
        sender=sender,
        recipients=recipients,
        message=message,
        tls=tls,
        force_helo=opts["force_helo"],
        auth_mechanism=opts["auth_mechanism"],
        auth_user=opts["auth_user"] or "",
        auth_password=password,
        allow_plaintext_auth=opts["allow_plaintext_auth"],
        quit_after=(opts["quit_after"] or "").lower() or None,
        drop_after=(opts["drop_after"] or "").lower() or None,
        drop_after_send=(opts["drop_after_send"] or "").lower() or None,
        pipeline=opts["pipeline"],
        lmtp=opts["lmtp"],
        xclient=xclient,
        esmtp=wanted,
        chunking=opts["chunking"],
        chain_file=opts["tls_chain_file"],
    )
    return tx, server, port


def _proxy(opts: dict) -> dict | None:
    if opts["proxy_version"] is None:
        return None
    keys = ("source", "source_port", "dest", "dest_port")
    return {"version": opts["proxy_version"], **{key: opts[f"proxy_{key}"] for key in keys}}


def _user() -> str:
    """getpass.getuser() without importing getpass (its contextlib/termios imports cost ~2 ms)."""
    import os

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _echo(lines: list[str], to_stderr: bool) -> None:
    stream = sys.stderr if to_stderr else sys.stdout
    if to_stderr:
        sys.stdout.flush()
    stream.write("".join(line + "\n" for line in lines))
    if to_stderr:
        stream.flush()


def _result(server, port, session, transcript, tx, error, show_secrets) -> dict:
    return {
        "schema": 1,
        "server": server,
        "port": port,
        "peer": session.peer[0] if session.peer else None,
        "ok": error is None,
        "exit_code": int(error.exit_code) if error else int(Exit.OK),
        "failed_stage": getattr(error, "stage", None)
        if isinstance(error, StageFailure)
        else ("network" if error and error.exit_code == Exit.NETWORK else "protocol" if error else None),
        "error": str(error) if error else None,
        "accepted_recipients": tx.accepted,
        "delivered_recipients": tx.delivered if tx.lmtp or tx.prdr_sent else None,
        "recipient_replies": [{"recipient": rcpt, **reply.to_dict()} for rcpt, reply in tx.verdicts]
        if tx.lmtp or tx.prdr_sent
        else None,
        "tls": session.tls.to_dict() if session.tls else None,
        "extensions": session.extensions,
        "transcript": transcript.to_json(show_secrets),
    }
