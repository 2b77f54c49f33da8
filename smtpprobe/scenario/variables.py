"""Templates with {variables}: validated at load time, filled in at run time.

`{name}` is replaced; `{{` and `}}` stand for literal braces. Values may themselves be templates (a
case's `rcpt = "{foreign_user}%{foreign_domain}@{server_literal}"`), resolved to a bounded depth.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping

# Given by options or a target profile; the rest are derived or learnt from the connection.
OPTION_VARIABLES: dict[str, str] = {
    "helo": "name for HELO/EHLO (--helo)",
    "sender": "envelope sender (--sender)",
    "local_rcpt": "a recipient the server accepts (--local-rcpt; default <postmaster>, no domain: RFC 5321 §4.1.1.3)",
    "foreign_rcpt": "an address off the server, for relay tests (--foreign-rcpt)",
    "auth_user": "user for AUTH steps (--auth-user)",
    "auth_password": "password for AUTH steps (--auth-password)",
}
DERIVED_VARIABLES: dict[str, str] = {
    "sender_user": "local part of {sender}",
    "sender_domain": "domain of {sender}",
    "local_user": "local part of {local_rcpt}",
    "local_domain": "domain of {local_rcpt} (empty for the default <postmaster>)",
    "local_postmaster": "postmaster@{local_domain}, or postmaster when {local_rcpt} has no domain",
    "local_at_domain": "@{local_domain}, or nothing when {local_rcpt} has no domain",
    "foreign_user": "local part of {foreign_rcpt}",
    "foreign_domain": "domain of {foreign_rcpt}",
}
CONNECTION_VARIABLES: dict[str, str] = {
    "server_name": "first word of the greeting (the server's name); the target host before it",
    "server_ip": "the server's IP address",
    "client_ip": "our IP address on this connection",
    "server_literal": "the server's address literal: [192.0.2.1] or [IPv6:2001:db8::1]",
    "client_literal": "our address literal on this connection",
}
BUILTIN: frozenset[str] = (
    frozenset(OPTION_VARIABLES) | frozenset(DERIVED_VARIABLES) | frozenset(CONNECTION_VARIABLES)
)

NAME = re.compile(r"[a-z_][a-z0-9_]*")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
MAX_DEPTH = 5


class TemplateError(ValueError):
    pass


def names(template: str) -> list[str]:
    """The variable names a template uses. Raises TemplateError for a stray brace or a bad name."""
    found = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise TemplateError(f"stray {token!r} in {template!r} (write {token * 2} for a literal brace)")
        if not NAME.fullmatch(match.group(1)):
            raise TemplateError(f"bad variable name {{{match.group(1)}}} in {template!r}")
        found.append(match.group(1))
    return found


def check(template: str, defined: Mapping[str, str] | frozenset[str], depth: int = 0) -> None:
    """Every variable the template uses (and those its values use) is defined."""
    for name in names(template):
        if name in BUILTIN:
            continue
        if name not in defined:
            raise TemplateError(f"undefined variable {{{name}}} in {template!r}")
        if isinstance(defined, Mapping):
            if depth >= MAX_DEPTH:
                raise TemplateError(f"variables nest deeper than {MAX_DEPTH} levels (a cycle?) at {{{name}}}")
            check(defined[name], defined, depth + 1)


def fill(template: str, lookup: Callable[[str], str], depth: int = 0) -> str:
    """The template with every variable replaced by lookup(name), itself filled."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        if depth >= MAX_DEPTH:
            raise TemplateError(f"variables nest deeper than {MAX_DEPTH} levels at {token}")
        return fill(lookup(match.group(1)), lookup, depth + 1)

    return _TOKEN.sub(replace, template)


def address_literal(ip: str) -> str:
    """RFC 5321 §4.1.3: [192.0.2.1] or [IPv6:2001:db8::1]."""
    try:
        return f"[IPv6:{ip}]" if ipaddress.ip_address(ip).version == 6 else f"[{ip}]"
    except ValueError:
        return f"[{ip}]"


class Environment:
    """The values for one connection: options, a scenario's own variables, and what the connection
    taught us (server name, addresses)."""

    def __init__(self, options: Mapping[str, str], scenario_vars: Mapping[str, str], host: str):
        self.values: dict[str, str] = {
            "server_name": host,
            "server_ip": host,
            "client_ip": "",
            **options,
            **scenario_vars,
        }

    def learn(self, **facts: str) -> None:
        self.values.update({k: v for k, v in facts.items() if v})

    def lookup(self, name: str) -> str:
        if name in self.values:
            return self.values[name]
        if name in ("local_postmaster", "local_at_domain"):
            domain = self.lookup("local_domain")
            at = f"@{domain}" if domain else ""
            return f"postmaster{at}" if name == "local_postmaster" else at
        if name in DERIVED_VARIABLES:
            base = {"sender": "sender", "local": "local_rcpt", "foreign": "foreign_rcpt"}[
                name.rsplit("_", 1)[0]
            ]
            address = self.fill(f"{{{base}}}")
            local, _, domain = address.rpartition("@") if "@" in address else (address, "", "")
            return local if name.endswith("_user") else domain
        if name == "server_literal":
            return address_literal(self.values["server_ip"])
        if name == "client_literal":
            return address_literal(self.values["client_ip"])
        raise TemplateError(f"undefined variable {{{name}}}")  # validation makes this unreachable

    def fill(self, template: str) -> str:
        return fill(template, self.lookup)
