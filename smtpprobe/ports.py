"""One spelling of `--port` for every command (run, doctor, send, burst, repl).

An item is `ROLE=PORT` (`mx=2525`), `ROLE` alone (its standard port: mx 25, submission 587, smtps 465) or a
bare `PORT` (25, 587 and 465 take their standard role, any other number is the mx role). Items may be
comma-separated (`mx=2525,submission=5870`) and the option repeated; both mean the same. A role named twice
with two different ports is refused by `run` (one port per role) rather than one silently winning. Commands that talk to one port
(send, burst, repl) take one item and refuse more."""

from __future__ import annotations

from collections.abc import Iterable

from smtpprobe.errors import UsageError

ROLES: tuple[str, ...] = ("mx", "submission", "smtps", "lmtp")
STANDARD: dict[str, int] = {"mx": 25, "submission": 587, "smtps": 465, "lmtp": 24}
WELL_KNOWN: dict[int, str] = {port: role for role, port in STANDARD.items()}
ALIASES = {
    "mx": "mx", "smtp": "mx", "submission": "submission", "smtps": "smtps", "submissions": "smtps", "lmtp": "lmtp"
}
MAX_PORTS = 10


def parse_item(item: str) -> tuple[str, int]:
    """`mx=2525` / `submission` / `2525` -> (role, port); UsageError naming the item."""
    text = item.strip()
    role, sep, number = text.partition("=")
    if not sep:
        if text.isdigit():
            port = _number(text, item)
            return WELL_KNOWN.get(port, "mx"), port
        role, number = text, ""
    canonical = ALIASES.get(role.strip().lower())
    if canonical is None:
        raise UsageError(
            f"--port {item!r}: {role.strip()!r} is not a port role; write ROLE=PORT, ROLE or PORT "
            f"(roles: {', '.join(ROLES)}), e.g. --port mx=2525"
        )
    return canonical, _number(number.strip(), item) if sep else STANDARD[canonical]


def parse_port_list(values: Iterable[str] | str | None) -> list[tuple[str, int]]:
    """Every `--port` value (repeated and/or comma lists) -> [(role, port)], in the order given, without
    repeats. One role may appear with several ports (doctor tests each)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    pairs: list[tuple[str, int]] = []
    for value in values:
        for item in value.split(","):
            if not item.strip():
                raise UsageError(f"--port {value!r}: empty item")
            pair = parse_item(item)
            if pair not in pairs:
                pairs.append(pair)
    if len(pairs) > MAX_PORTS:
        raise UsageError(f"--port: at most {MAX_PORTS} ports")
    return pairs


def parse_ports(values: Iterable[str] | str | None) -> dict[str, int]:
    """As parse_port_list, one port per role ({role: port}); a role given twice with two different ports is
    refused rather than one silently winning."""
    ports: dict[str, int] = {}
    for role, port in parse_port_list(values):
        if role in ports:
            raise UsageError(
                f"--port: the {role} role is given twice ({ports[role]} and {port}); "
                f"name each role once, e.g. --port {role}={port}"
            )
        ports[role] = port
    return ports


def single_port(values: Iterable[str] | str | int | None, server_port: int | None = None) -> int | None:
    """For commands that talk to one port: the port of the one `--port` item (None when not given).
    More than one item, or a port different from the one in `--server HOST:PORT`, is refused."""
    if values is None or isinstance(values, int):
        chosen = values
    else:
        items = [values] if isinstance(values, str) else list(values)
        flat = [item for value in items for item in value.split(",")]
        if not flat:
            chosen = None
        elif len(flat) > 1:
            raise UsageError(
                f"--port given {len(flat)} times ({', '.join(flat)}); this command talks to one port: give it once"
            )
        else:
            chosen = parse_item(flat[0])[1] if flat[0].strip() else _number("", flat[0])
    if chosen is not None and server_port and chosen != server_port:
        raise UsageError(
            f"the port is given twice: {server_port} in --server and {chosen} in --port; give it in one place"
        )
    return chosen


def _number(value: str, item: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise UsageError(f"--port {item!r}: a port is a number from 1 to 65535")
    return int(value)
