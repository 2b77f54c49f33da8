"""Step kinds: the action key a step table carries, and how its value is validated.

Adding a kind: a parser here (value -> the Step's `arg`, raising SpecError), an action in actions.py
(what it does on the Session), a line in docs/scenarios.md. A test checks the two tables agree.
"""

from __future__ import annotations

from collections.abc import Callable

from smtpprobe.sasl import MECHANISMS
from smtpprobe.scenario.errors import SpecError
from smtpprobe.scenario.model import CONNECT_MODES
from smtpprobe.scenario.tls_steps import parse_tls_posture

MAX_PIPELINE = 50
MAX_PAUSE = 30.0
MAX_WAIT = 120.0
MAX_TEXT = 1_000_000  # a DATA body or raw bytes; scenarios are small files, this only stops accidents


def _text(key: str, value: object, *, single_line: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(key, f"must be a string, got {_type(value)}")
    if len(value) > MAX_TEXT:
        raise SpecError(key, f"is longer than {MAX_TEXT} characters")
    if single_line and ("\r" in value or "\n" in value):
        raise SpecError(key, "must be one command line without CR or LF (use `raw` to send line breaks)")
    return value


def _seconds(key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise SpecError(key, f"must be a number of seconds from {low:g} to {high:g}, got {value!r}")
    return float(value)


def parse_connect(value: object) -> str:
    if value not in CONNECT_MODES:
        raise SpecError("connect", f"must be one of {', '.join(CONNECT_MODES)}, got {value!r}")
    return str(value)


def parse_send(value: object) -> str:
    return _text("send", value, single_line=True)


def parse_raw(value: object) -> str:
    return _text("raw", value)


def parse_pipeline(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PIPELINE:
        raise SpecError("pipeline", f"must be a list of 1 to {MAX_PIPELINE} command lines")
    return tuple(_text("pipeline", item, single_line=True) for item in value)


def parse_starttls(value: object) -> bool:
    if value is not True:
        raise SpecError("starttls", "must be true")
    return True


def parse_auth(value: object) -> dict[str, str]:
    if isinstance(value, str):
        value = {"mechanism": value}
    if not isinstance(value, dict):
        raise SpecError("auth", "must be a mechanism name or a table {mechanism, user, password}")
    unknown = set(value) - {"mechanism", "user", "password"}
    if unknown:
        raise SpecError(f"auth.{min(unknown)}", "unknown key (allowed: mechanism, user, password)")
    mechanism = str(value.get("mechanism", "")).upper()
    if mechanism not in MECHANISMS:
        raise SpecError(
            "auth.mechanism", f"must be one of {', '.join(MECHANISMS)}, got {value.get('mechanism')!r}"
        )
    return {
        "mechanism": mechanism,
        "user": _text("auth.user", value.get("user", "{auth_user}")),
        "password": _text("auth.password", value.get("password", "{auth_password}")),
    }


def parse_data(value: object) -> str:
    return _text("data", value)


def parse_data_raw(value: object) -> str:
    return _text("data_raw", value)


def parse_pre_greeting(value: object) -> str:
    return _text("pre_greeting", value)


def parse_starttls_inject(value: object) -> str:
    return _text("starttls_inject", value, single_line=True)


SMUGGLE_KEYS = ("message", "eod", "smuggled")


def parse_smuggle(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise SpecError("smuggle", "must be a table { message, eod, smuggled, split = false }")
    unknown = set(value) - {*SMUGGLE_KEYS, "split"}
    if unknown:
        raise SpecError(f"smuggle.{min(unknown)}", "unknown key (allowed: message, eod, smuggled, split)")
    out: dict[str, object] = {k: _text(f"smuggle.{k}", value.get(k)) for k in SMUGGLE_KEYS}
    split = value.get("split", False)
    if not isinstance(split, bool) and not (isinstance(split, str) and "{" in split):
        raise SpecError(
            "smuggle.split", f'must be true, false or a variable ("{{split}}": yes/no), got {split!r}'
        )
    out["split"] = split
    return out


BURST_MAX_CONNECTIONS = 100  # a scenario is a conformance check, not a load test (see `smtpprobe burst`)
BURST_MAX_HOLD = 30.0


def parse_burst(value: object) -> dict[str, float | int | None]:
    if not isinstance(value, dict):
        raise SpecError("burst", "must be a table { connections = 20, hold = 2, rate = 50 }")
    unknown = set(value) - {"connections", "hold", "rate"}
    if unknown:
        raise SpecError(f"burst.{min(unknown)}", "unknown key (allowed: connections, hold, rate)")
    count = value.get("connections", 20)
    if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= BURST_MAX_CONNECTIONS:
        raise SpecError("burst.connections", f"must be a whole number from 2 to {BURST_MAX_CONNECTIONS}")
    rate = value.get("rate")
    return {
        "connections": count,
        "hold": _seconds("burst.hold", value.get("hold", 2), 0.0, BURST_MAX_HOLD),
        "rate": None if rate is None else _seconds("burst.rate", rate, 1.0, 1000.0),
    }


def parse_proxy(value: object) -> dict[str, object]:
    """{ version = 1|2, source = "192.0.2.1", source_port = 40000, dest = ..., dest_port = ... }; the addresses
    default to the connection's own ends."""
    if not isinstance(value, dict):
        raise SpecError("proxy", 'must be a table { version = 2, source = "192.0.2.1" }')
    unknown = set(value) - {"version", "source", "source_port", "dest", "dest_port"}
    if unknown:
        raise SpecError(f"proxy.{min(unknown)}", "unknown key (allowed: version, source, source_port, dest, dest_port)")
    if value.get("version") not in (1, 2):
        raise SpecError("proxy.version", f"must be 1 or 2, got {value.get('version')!r}")
    for key in ("source_port", "dest_port"):
        port = value.get(key)
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
            raise SpecError(f"proxy.{key}", f"must be a port number, got {port!r}")
    return {key: value.get(key) for key in ("version", "source", "source_port", "dest", "dest_port")}


def parse_wait_closed(value: object) -> float:
    return _seconds("wait_closed", value, 0.1, MAX_WAIT)


def parse_pause(value: object) -> float:
    return _seconds("pause", value, 0.0, MAX_PAUSE)


def parse_read(value: object) -> float:
    return _seconds("read", value, 0.1, MAX_WAIT)


KINDS: dict[str, Callable[[object], object]] = {
    "connect": parse_connect,  # connect and read the greeting
    "send": parse_send,  # one command line, CRLF added; the reply is read
    "raw": parse_raw,  # bytes with escapes (\r \n \0 \xNN), sent as they are; one reply is read
    "pipeline": parse_pipeline,  # several command lines in one write; one reply per line is read
    "starttls": parse_starttls,  # STARTTLS, then the handshake on a 220
    "auth": parse_auth,  # AUTH with a SASL mechanism
    "data": parse_data,  # DATA, then the message (dot-stuffed, terminated) on a 354
    "data_raw": parse_data_raw,  # DATA, then exactly these bytes on a 354 (no dot-stuffing, no terminator)
    "wait_closed": parse_wait_closed,  # wait up to N seconds for the server to close
    "pause": parse_pause,  # sleep N seconds (bounded)
    "read": parse_read,  # read one reply within N seconds, sending nothing
    "pre_greeting": parse_pre_greeting,  # connect and send these bytes before the greeting (early talker)
    "starttls_inject": parse_starttls_inject,  # STARTTLS + a command in one segment; replies inside TLS
    "burst": parse_burst,  # many connections at once (smtpprobe.burst); the first refusal, if any
    "tls_posture": parse_tls_posture,  # a TLS scan of the port (smtpprobe.tlsscan), judged for one topic
    "proxy": parse_proxy,  # connect, send a PROXY protocol v1/v2 header, read the greeting
    "smuggle": parse_smuggle,  # DATA, a message with a bogus end-of-data and a smuggled one; QUIT sentinel
}

# Kinds that open the connection themselves: only the first step may be one of them.
CONNECTING = {"connect", "pre_greeting", "burst", "tls_posture", "proxy"}

# Kinds whose text is a template to fill ({variables}); pipelines fill each line, auth its user/password.
TEMPLATED = {
    "send",
    "raw",
    "pipeline",
    "data",
    "data_raw",
    "auth",
    "pre_greeting",
    "starttls_inject",
    "smuggle",
}


def templates(kind: str, arg: object) -> list[str]:
    if kind in ("send", "raw", "data", "data_raw", "pre_greeting", "starttls_inject"):
        return [str(arg)]
    if kind == "pipeline":
        return list(arg)  # type: ignore[call-overload]
    if kind == "auth":
        return [arg["user"], arg["password"]]  # type: ignore[index]
    if kind == "smuggle":
        return [arg[k] for k in SMUGGLE_KEYS] + ([arg["split"]] if isinstance(arg["split"], str) else [])  # type: ignore[index]
    return []


def _type(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )
