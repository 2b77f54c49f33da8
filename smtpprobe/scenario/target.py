"""The target of a run: host, the port of each role, the variables, the policy. From options and an
optional target profile (TOML); options win over the profile, the profile over the defaults.

    server = "mx.example.org"        # HOST or HOST:PORT (the port is the mx role's)
    policy = "hardened"
    helo = "ci.example.org"
    sender = "ci@example.org"
    local_rcpt = "postmaster@example.org"
    foreign_rcpt = "relaytest@example.net"
    timeout = 10
    concurrency = 4
    [ports]
    mx = 25
    submission = 587
    smtps = 465
"""

from __future__ import annotations

import re
import socket
import tomllib
from dataclasses import dataclass, field

from smtpprobe.errors import UsageError
from smtpprobe.scenario.model import DEFAULT_PORTS, PORT_ROLES
from smtpprobe.scenario.verdict import POLICIES

DEFAULT_TIMEOUT = 10.0
MIN_TIMEOUT, MAX_TIMEOUT = 0.1, 600.0  # run --timeout's range, for profiles too
MAX_CONCURRENCY = 32  # run --concurrency's maximum, for profiles too
# Options that override a target profile's values, in `run` and in the pytest plugin alike.
OVERRIDE_KEYS = (
    "helo",
    "sender",
    "local_rcpt",
    "foreign_rcpt",
    "auth_user",
    "auth_password",
    "policy",
    "timeout",
)
DEFAULT_FOREIGN = "relaytest@example.net"  # RFC 2606: a domain that is never the target's own
DEFAULT_LOCAL = "postmaster"
PROFILE_KEYS = {
    "server",
    "policy",
    "helo",
    "sender",
    "local_rcpt",
    "foreign_rcpt",
    "auth_user",
    "auth_password",
    "timeout",
    "concurrency",
    "ports",
}
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@dataclass
class Target:
    host: str
    ports: dict[str, int]  # the selected roles only
    variables: dict[str, str] = field(default_factory=dict)
    policy: str = "rfc"
    timeout: float = DEFAULT_TIMEOUT
    local_rcpt_given: bool = False  # probes that deliver mail (tag `delivers`) run only then

    def public(self) -> dict:
        """For reports: without the AUTH password."""
        shown = {k: ("<redacted>" if k == "auth_password" and v else v) for k, v in self.variables.items()}
        return {
            "host": self.host,
            "ports": dict(self.ports),
            "policy": self.policy,
            "timeout": self.timeout,
            "variables": shown,
        }


def default_helo() -> str:
    """This host's name when it is a fully-qualified one (strict servers refuse anything else), or a
    name under example.org (RFC 2606) that passes their syntax checks."""
    name = socket.gethostname()
    if "." in name and all(_LABEL.fullmatch(label) for label in name.split(".")):
        return name
    return "smtpprobe.example.org"


def parse_port_spec(text: str) -> tuple[str, int]:
    """`ROLE=PORT`, `ROLE` (its standard port) or `PORT`: the spelling every command shares (smtpprobe.ports)."""
    from smtpprobe.ports import parse_item

    return parse_item(text)


def load_profile(path: str) -> dict:
    from smtpprobe import inputfile, validate

    text = inputfile.read_text(path, "--target", inputfile.CONFIG_LIMIT)
    validate.toml_depth(text, f"--target {path}")
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UsageError(f"{path}: target profile is not valid TOML: {exc}") from None
    for key, value in data.items():
        if key not in PROFILE_KEYS:
            raise UsageError(
                f"{path}: unknown key {key!r} in target profile (allowed: {', '.join(sorted(PROFILE_KEYS))})"
            )
        if key == "ports":
            if not isinstance(value, dict) or any(
                r not in PORT_ROLES or isinstance(p, bool) or not isinstance(p, int) or not 0 < p < 65536
                for r, p in value.items()
            ):
                raise UsageError(f"{path}: key 'ports' must be a table like {{ mx = 25, submission = 587 }}")
        elif key == "timeout":  # the bounds of run --timeout; TOML allows inf and nan
            validate.number(value, f"{path}: key 'timeout'", MIN_TIMEOUT, MAX_TIMEOUT)
        elif key == "concurrency":  # the bounds of run --concurrency
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
                raise UsageError(f"{path}: key 'concurrency' must be a whole number from 1 to {MAX_CONCURRENCY}")
        elif not isinstance(value, str):
            raise UsageError(f"{path}: key {key!r} must be a string")
    if "policy" in data and data["policy"] not in POLICIES:
        raise UsageError(f"{path}: key 'policy' must be 'rfc' or 'hardened'")
    return data


def build_target(server: str | None, port_specs: tuple[str, ...], profile: dict, overrides: dict) -> Target:
    """`overrides`: the options the user gave (None for those not given)."""
    from smtpprobe.target import parse_server

    server = server or profile.get("server")
    if not server:
        raise UsageError("--server is required (or `server` in the --target profile)")
    host, port = parse_server(server, 0)
    ports: dict[str, int] = {}
    if port_specs:
        from smtpprobe.ports import parse_ports

        ports = parse_ports(port_specs)
    elif profile.get("ports"):
        ports = dict(profile["ports"])
    if port and ports.get("mx", port) != port:  # two ports for one role: refused, not one silently dropped
        raise UsageError(
            f"the mx port is given twice: {port} in --server and {ports['mx']} in --port; give it in one place"
        )
    if port and "mx" not in ports:
        ports["mx"] = port
    if not ports:
        ports = {"mx": DEFAULT_PORTS["mx"]}
    values = {
        k: profile[k]
        for k in ("helo", "sender", "local_rcpt", "foreign_rcpt", "auth_user", "auth_password")
        if k in profile
    }
    values.update({k: v for k, v in overrides.items() if v is not None and k not in ("policy", "timeout")})
    helo = values.get("helo") or default_helo()
    variables = {
        "helo": helo,
        "sender": values.get("sender") or f"smtpprobe@{helo}",
        # RFC 5321 §4.1.1.3: <Postmaster> without a domain is a recipient every server takes; never a
        # domain from the greeting, which may name a third party
        "local_rcpt": values.get("local_rcpt") or DEFAULT_LOCAL,
        "foreign_rcpt": values.get("foreign_rcpt") or DEFAULT_FOREIGN,
        "auth_user": values.get("auth_user", ""),
        "auth_password": values.get("auth_password", ""),
    }
    for key in ("sender", "local_rcpt", "foreign_rcpt"):
        value = variables[key]
        if (key != "local_rcpt" or values.get(key)) and (
            "@" not in value or any(c in value for c in "<> \r\n")
        ):
            raise UsageError(
                f"--{key.replace('_', '-')} {value!r}: want a bare address like user@example.org"
            )
    if any(c in helo for c in " \r\n"):
        raise UsageError(f"--helo {helo!r}: a name without spaces or line breaks")
    for key in ("helo", "sender", "local_rcpt", "foreign_rcpt", "auth_user", "auth_password"):
        if key in values:
            variables[key] = (
                variables[key].replace("{", "{{").replace("}", "}}")
            )  # user text is not a template
    policy = overrides.get("policy") or profile.get("policy") or "rfc"
    timeout = float(overrides.get("timeout") or profile.get("timeout") or DEFAULT_TIMEOUT)
    return Target(host, ports, variables, policy, timeout, local_rcpt_given=bool(values.get("local_rcpt")))
