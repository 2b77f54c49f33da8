"""What the doctor was asked to do: the options, validated, and the ports with their roles.

Port roles (what each port is for, and so how it is spoken to):

- ``mx`` (25): server-to-server delivery. STARTTLS when offered, no AUTH, MAIL and RCPT.
- ``submission`` (587): a client handing mail to its own provider. STARTTLS required; with
  ``--auth-user`` AUTH then MAIL and RCPT, without it the probe stops after the EHLO inside TLS.
- ``smtps`` (465): as submission, with implicit TLS (RFC 8314).

``--port`` takes well-known numbers (``25,587,465``) or ``ROLE=PORT`` items for any port
(``mx=2525,submission=5870,smtps=4650``); both may be mixed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from smtpprobe.errors import UsageError
from smtpprobe.ports import WELL_KNOWN  # 25 -> mx, 587 -> submission, 465 -> smtps

ROLES = ("mx", "submission", "smtps")
_LOCAL = re.compile(r"[^\s<>()\[\]\\,;:@\"]+\Z")


@dataclass(frozen=True)
class PortPlan:
    role: str  # one of ROLES
    port: int

    def __str__(self) -> str:
        return f"{self.port} ({self.role})"


@dataclass
class Options:
    sender: str  # --from: the envelope sender really used
    ip: str  # --ip: the address the sender's mail leaves from
    helo: str  # --helo: the EHLO/HELO name really used (a name or an address literal)
    to: str | None = None  # --to: a recipient; its domain's MX is the target without --server
    server: str | None = None  # --server HOST[:PORT]
    ports: str | None = None  # --port as written
    selectors: list[str] = field(default_factory=list)
    resolver: str | None = None  # DNS server IP[:PORT], for the audit and the MX lookup
    dns_timeout: float = 5.0
    dnsbl: list[str] | None = None  # None: the audit's default lists
    timeout: float = 30.0  # seconds per SMTP reply
    send: bool = False  # go through DATA with a small test message
    auth_user: str | None = None
    auth_password: str = ""
    auth_mechanism: str = "PLAIN"
    tls_ca_file: str | None = None
    local_address: str | None = None
    plan: list[PortPlan] = field(default_factory=list)  # filled by validate()
    server_host: str | None = None  # filled by validate()


def parse_ports(text: str) -> list[PortPlan]:
    """'25,587,465' / 'mx=2525,smtps=4650' -> [PortPlan]; the spelling every command shares (smtpprobe.ports)."""
    from smtpprobe.ports import parse_port_list

    if not text.strip():
        raise UsageError("--port: empty")
    plans = [PortPlan(role, port) for role, port in parse_port_list(text)]
    if other := next((p for p in plans if p.role not in ROLES), None):  # lmtp: a send/scenario role only
        raise UsageError(f"--port {other.role}={other.port}: doctor checks the roles {', '.join(ROLES)}")
    return plans


def helo_literal(helo: str) -> str | None:
    """The address inside an address-literal HELO ('[192.0.2.1]', '[IPv6:2001:db8::1]'), else None.
    UsageError for a bracketed text that is no address: the user mistyped, the server is not at fault."""
    if not helo.startswith("["):
        return None
    inner = helo[1:-1] if helo.endswith("]") else ""
    address = inner[5:] if inner.lower().startswith("ipv6:") else inner
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise UsageError(f"--helo {helo!r}: not an address literal ([192.0.2.1] or [IPv6:2001:db8::1])") from None


def validate(opts: Options) -> Options:
    from smtpprobe.target import parse_server

    local, at, domain = opts.sender.strip().rpartition("@")
    if not at or not local or not domain or not _LOCAL.match(local.strip('"')):
        raise UsageError(f"--from: expected local@domain, got {opts.sender!r}")
    opts.sender = f"{local}@{domain.lower().rstrip('.')}"
    try:
        opts.ip = str(ipaddress.ip_address(opts.ip.strip()))
    except ValueError:
        raise UsageError(f"--ip: not an IP address: {opts.ip!r}") from None
    opts.helo = opts.helo.strip()
    if not opts.helo or any(c.isspace() or not c.isprintable() for c in opts.helo):
        raise UsageError(f"--helo: expected a host name or an address literal, got {opts.helo!r}")
    helo_literal(opts.helo)  # raises for a malformed literal
    if opts.to is not None:
        local, at, domain = opts.to.strip().rpartition("@")
        if not at or not local or not domain:
            raise UsageError(f"--to: expected local@domain, got {opts.to!r}")
        opts.to = opts.to.strip()
    if opts.server is None and opts.to is None:
        raise UsageError("give --server HOST[:PORT] or --to ADDR (whose domain's MX is then tested)")
    server_port = None
    if opts.server is not None:
        opts.server_host, server_port = parse_server(opts.server, 0)
        server_port = server_port or None
    if server_port and opts.ports:
        raise UsageError("give the port in --server HOST:PORT or in --port, not both")
    if opts.ports:
        opts.plan = parse_ports(opts.ports)
    elif server_port:
        # An explicit HOST:PORT is what the user wants tested: a well-known number keeps its role, any
        # other port is spoken to as an MX (the role a refused sender meets); --port ROLE=PORT overrides.
        opts.plan = [PortPlan(WELL_KNOWN.get(server_port, "mx"), server_port)]
    else:
        opts.plan = [PortPlan("mx", 25)]
    if opts.auth_user is not None and not opts.auth_user:
        raise UsageError("--auth-user: empty")
    if not 0 < opts.timeout <= 600:
        raise UsageError("--timeout: expected 0 < SECONDS <= 600")
    return opts
