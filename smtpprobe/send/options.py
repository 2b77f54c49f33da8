"""`send`'s options, defined once as data: the click command is built from this table, and so is the lean
parser that runs a plain `smtpprobe send ...` without importing click (~25 ms of a ~45 ms start-up).

The lean parser only takes the easy road: any argument it does not recognise, a value it cannot convert, a
missing required option or `--help` makes it give up (return None), and click parses the same argv with its
own messages. tests/test_send_options_table.py checks that both parsers give the same values.
"""

from __future__ import annotations

import math
import os

STAGES = ("connect", "proxy", "banner", "ehlo", "tls", "xclient", "auth", "mail", "rcpt", "data", "dot")
SEND_STAGES = STAGES[3:]  # the stages that send a command and wait for its reply (--drop-after-send)
AUTH_MECHANISMS = (
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "CRAM-SHA1",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "XOAUTH2",
    "OAUTHBEARER",
)
TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
XCLIENT_ATTRS = ("addr", "name", "reverse-name", "port", "proto", "helo", "login", "destaddr", "destport")


class Opt:
    """One option. kind: "value", "flag" (True when given), "const" (a flag that stores `const` into a dest
    shared with others), "multiple" (repeatable value, a tuple). type: str, int, float, "choice"."""

    __slots__ = (
        "choices",
        "const",
        "default",
        "dest",
        "envvar",
        "help",
        "high",
        "kind",
        "low",
        "metavar",
        "names",
        "required",
        "type",
    )

    def __init__(
        self,
        names: str,
        dest: str,
        kind: str = "value",
        type: object = str,
        *,
        choices: tuple = (),
        low: float | None = None,
        high: float | None = None,
        default: object = None,
        const: object = None,
        envvar: str | None = None,
        metavar: str | None = None,
        help: str = "",
        required: bool = False,
    ):
        self.names, self.dest, self.kind, self.type = tuple(names.split()), dest, kind, type
        self.choices, self.low, self.high, self.default, self.const = choices, low, high, default, const
        self.envvar, self.metavar, self.help, self.required = envvar, metavar, help, required


_T = "Seconds for {} (default: --timeout)."
OPTIONS: tuple[Opt, ...] = (
    # target and transport
    Opt(
        "--server -s",
        "server",
        metavar="HOST[:PORT]",
        help="Target server. Default: the MX of the first --to domain.",
    ),
    Opt(
        "--port -p",
        "port",
        "multiple",
        metavar="PORT",
        help="Port or ROLE=PORT, once (default 25; 465 with --tls-on-connect; 24 with --lmtp).",
    ),
    Opt("--socket", "socket_path", metavar="PATH", help="Connect to this UNIX socket instead of TCP."),
    Opt(
        "--pipe",
        "pipe_command",
        metavar="COMMAND",
        help="Speak SMTP to a command's stdin/stdout (e.g. 'sendmail -bs'), run with /bin/sh.",
    ),
    Opt(
        "--lmtp",
        "lmtp",
        "flag",
        help="Speak LMTP (RFC 2033): LHLO, one reply per recipient after the message.",
    ),
    Opt("--local-address", "local_address", metavar="IP", help="Source address to connect from."),
    Opt("--local-port", "local_port", type=int, low=1, high=65535, help="Source port to connect from."),
    Opt("-4", "ipv4", "flag", help="IPv4 only."),
    Opt("-6", "ipv6", "flag", help="IPv6 only."),
    # envelope and greeting
    Opt("--to -t", "recipients", "multiple", required=True, metavar="ADDR", help="Recipient (repeatable)."),
    Opt("--cc", "cc", "multiple", metavar="ADDR", help="Recipient named in a Cc header (repeatable)."),
    Opt("--bcc", "bcc", "multiple", metavar="ADDR", help="Recipient in the envelope only (repeatable)."),
    Opt("--from -f", "sender", metavar="ADDR", help="Envelope sender; '' for the null sender <>."),
    Opt("--helo --ehlo --lhlo", "helo", metavar="NAME", help="Name for EHLO/LHLO (HELO if EHLO is refused)."),
    Opt("--force-helo", "force_helo", "flag", help="Send plain HELO, never EHLO."),
    # TLS
    Opt("--tls", "tls", "const", const="starttls", help="Require STARTTLS."),
    Opt("--tls-optional", "tls", "const", const="optional", help="Use STARTTLS when offered."),
    Opt("--tls-on-connect", "tls", "const", const="implicit", help="Implicit TLS (port 465, RFC 8314)."),
    Opt(
        "--tls-verify", "tls_verify", "flag", help="Fail when the certificate chain or name does not verify."
    ),
    Opt(
        "--tls-ca-file",
        "tls_ca_file",
        metavar="PEM",
        help="Trust these CA certificates instead of the system's.",
    ),
    Opt(
        "--tls-sni",
        "tls_sni",
        metavar="NAME",
        help="Name for SNI and certificate checks (default: the server).",
    ),
    Opt(
        "--tls-cert",
        "tls_cert",
        metavar="PEM",
        help="Client certificate to present (with --tls-key, or both in one PEM).",
    ),
    Opt("--tls-key", "tls_key", metavar="PEM", help="Private key of --tls-cert."),
    Opt(
        "--tls-protocol",
        "tls_protocol",
        "value",
        "choice",
        choices=TLS_VERSIONS,
        help="Pin this TLS version (to reproduce an old sender).",
    ),
    Opt("--tls-cipher", "tls_cipher", metavar="LIST", help="OpenSSL cipher list for TLS 1.2 and older."),
    Opt(
        "--tls-get-peer-chain",
        "tls_chain_file",
        metavar="FILE",
        help="Save the server's certificate chain (PEM).",
    ),
    # XCLIENT (Postfix) and PROXY (HAProxy)
    *(
        Opt(
            f"--xclient-{a}",
            f"xclient_{a.replace('-', '_')}",
            metavar="VALUE",
            help=f"XCLIENT {a.upper().replace('-', '_')}= (Postfix; sent after TLS, before AUTH).",
        )
        for a in XCLIENT_ATTRS
    ),
    Opt(
        "--proxy-version",
        "proxy_version",
        type=int,
        low=1,
        high=2,
        help="Send a PROXY protocol header (1 or 2) before anything else.",
    ),
    Opt("--proxy-source", "proxy_source", metavar="IP", help="PROXY source address (default: our own)."),
    Opt("--proxy-source-port", "proxy_source_port", type=int, low=0, high=65535, help="PROXY source port."),
    Opt("--proxy-dest", "proxy_dest", metavar="IP", help="PROXY destination address (default: the peer's)."),
    Opt("--proxy-dest-port", "proxy_dest_port", type=int, low=0, high=65535, help="PROXY destination port."),
    # AUTH
    Opt("--auth -a", "auth_mechanism", "value", "choice", choices=AUTH_MECHANISMS, help="SASL mechanism."),
    Opt("--auth-user -au", "auth_user", metavar="USER"),
    Opt(
        "--auth-password -ap",
        "auth_password",
        metavar="PASS",
        envvar="SMTPPROBE_AUTH_PASSWORD",
        help="Password, or the OAuth 2.0 access token for XOAUTH2/OAUTHBEARER (or env SMTPPROBE_AUTH_PASSWORD; "
        "prompted for when missing on a terminal).",
    ),
    Opt(
        "--allow-plaintext-auth",
        "allow_plaintext_auth",
        "flag",
        help="Allow AUTH on a connection without TLS.",
    ),
    # message
    Opt("--header", "headers", "multiple", metavar="'NAME: VALUE'", help="Add or replace a header."),
    Opt("--body", "body", metavar="TEXT", help="Message body."),
    Opt("--attach", "attachments", "multiple", metavar="FILE", help="Attach a file (repeatable)."),
    Opt("--data", "data_file", metavar="FILE", help="Send this raw message ('-' for stdin) instead."),
    Opt(
        "--max-file-size",
        "max_file_size",
        type=int,
        low=1,
        high=1 << 20,
        default=50,
        metavar="MIB",
        help="Largest --data or --attach file, in MiB.",
    ),
    Opt("--dump-message", "dump_message", "flag", help="Print the message that would be sent and exit."),
    # ESMTP parameters
    Opt(
        "--body-type",
        "body_type",
        "value",
        "choice",
        choices=("7BIT", "8BITMIME", "BINARYMIME"),
        help="BODY= on MAIL (default: 8BITMIME for an 8-bit message when offered).",
    ),
    Opt(
        "--dsn-notify",
        "dsn_notify",
        metavar="LIST",
        help="DSN NOTIFY= on each RCPT: NEVER or SUCCESS,FAILURE,DELAY.",
    ),
    Opt("--dsn-ret", "dsn_ret", "value", "choice", choices=("FULL", "HDRS"), help="DSN RET= on MAIL."),
    Opt("--dsn-envid", "dsn_envid", metavar="ID", help="DSN ENVID= on MAIL."),
    Opt("--dsn-orcpt", "dsn_orcpt", "flag", help="DSN ORCPT=rfc822;ADDR on each RCPT."),
    Opt(
        "--requiretls",
        "requiretls",
        "flag",
        help="REQUIRETLS on MAIL (RFC 8689); needs TLS and the extension.",
    ),
    Opt(
        "--chunking",
        "chunking",
        "flag",
        help="Send the message with BDAT (RFC 3030) when CHUNKING is offered.",
    ),
    Opt("--prdr", "prdr", "flag", help="Ask for one reply per recipient after the message (PRDR), if offered."),
    Opt("--mail-param", "mail_params", "multiple", metavar="KEY[=VALUE]", help="Extra MAIL FROM parameter."),
    Opt("--rcpt-param", "rcpt_params", "multiple", metavar="KEY[=VALUE]", help="Extra RCPT TO parameter."),
    Opt("--no-auto-params", "no_auto_params", "flag", help="Send no BODY=, SMTPUTF8 or SIZE= on our own."),
    # flow
    Opt(
        "--quit-after -q",
        "quit_after",
        "value",
        "choice",
        choices=STAGES,
        help="Stop after this stage (QUIT).",
    ),
    Opt(
        "--drop-after",
        "drop_after",
        "value",
        "choice",
        choices=STAGES,
        help="Hang up after this stage, without QUIT.",
    ),
    Opt(
        "--drop-after-send",
        "drop_after_send",
        "value",
        "choice",
        choices=SEND_STAGES,
        help="Hang up right after sending this stage's command, before its reply.",
    ),
    Opt("--pipeline", "pipeline", "flag", help="Send MAIL, RCPT and DATA in one batch (RFC 2920)."),
    Opt("--timeout", "timeout", type=float, low=0.1, high=3600, default=30.0, help="Seconds per reply."),
    Opt(
        "--connect-timeout",
        "connect_timeout",
        type=float,
        low=0.1,
        high=3600,
        help=_T.format("the TCP connect"),
    ),
    Opt(
        "--greeting-timeout",
        "greeting_timeout",
        type=float,
        low=0.1,
        high=3600,
        help=_T.format("the greeting"),
    ),
    # output
    Opt("--show-time", "show_time", "flag", help="Show how long each reply took."),
    Opt("--show-secrets", "show_secrets", "flag", help="Do not redact AUTH secrets in the transcript."),
    Opt("--json", "as_json", "flag", help="Print the result and transcript as JSON (schema 1)."),
)


def defaults() -> dict[str, object]:
    values: dict[str, object] = {}
    for opt in OPTIONS:
        values.setdefault(
            opt.dest, () if opt.kind == "multiple" else False if opt.kind == "flag" else opt.default
        )
    return values


def _index() -> dict[str, Opt]:
    return {name: opt for opt in OPTIONS for name in opt.names}


def fast_parse(argv: list[str]) -> dict[str, object] | None:
    """The values click would give for `argv` (the arguments after `send`), or None when click must decide."""
    index = _index()
    values = defaults()
    given: set[str] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        opt = index.get(name)
        if opt is None and not arg.startswith("--") and len(arg) > 2 and arg[:2] in index:  # -sVALUE
            opt, name, eq, inline = index[arg[:2]], arg[:2], "=", arg[2:]
            if opt.kind in ("flag", "const"):
                return None
        if opt is None:
            return None  # unknown, positional, --help: click's business
        if opt.kind in ("flag", "const"):
            if eq:
                return None
            values[opt.dest] = True if opt.kind == "flag" else opt.const
        else:
            if not eq:
                i += 1
                if i >= len(argv):
                    return None
                inline = argv[i]
            value = _convert(opt, inline)
            if value is None:
                return None
            if opt.kind == "multiple":
                values[opt.dest] = (*values[opt.dest], value)  # type: ignore[misc]
            else:
                values[opt.dest] = value
        given.add(opt.dest)
        i += 1
    for opt in OPTIONS:
        if opt.envvar and opt.dest not in given and os.environ.get(opt.envvar):
            values[opt.dest] = os.environ[opt.envvar]
        if opt.required and not values[opt.dest]:
            return None
    return values


def _convert(opt: Opt, text: str) -> object | None:
    if opt.type == "choice":
        return next((c for c in opt.choices if c.lower() == text.lower()), None)
    if opt.type is str:
        return text
    try:
        number = opt.type(text)  # type: ignore[operator]
    except ValueError:
        return None
    if (
        math.isnan(number)
        or (opt.low is not None and number < opt.low)
        or (opt.high is not None and number > opt.high)
    ):
        return None  # NaN, or out of range: click's message
    return number


def click_options(func):
    """Decorate a click command function with every option of the table (click imported here only)."""
    import click

    for opt in reversed(OPTIONS):
        kwargs: dict[str, object] = {"help": opt.help or None, "metavar": opt.metavar}
        if opt.kind == "flag":
            kwargs.update(is_flag=True)
        elif opt.kind == "const":
            kwargs.update(flag_value=opt.const)
        else:
            kwargs.update(multiple=opt.kind == "multiple", required=opt.required, envvar=opt.envvar)
            if opt.type == "choice":
                kwargs["type"] = click.Choice(opt.choices, case_sensitive=False)
            elif opt.type is int:
                kwargs["type"] = click.IntRange(opt.low, opt.high)  # type: ignore[arg-type]
            elif opt.type is float:
                kwargs["type"] = click.FloatRange(opt.low, opt.high)  # type: ignore[arg-type]
            if opt.default is not None:
                kwargs.update(default=opt.default, show_default=True)
        func = click.option(*opt.names, opt.dest, **kwargs)(func)
    return func
