"""Checks on values the user gives, where a bad one would inject protocol syntax, crash a library, or
pass a bound: envelope addresses, host names, header fields, numbers, TOML nesting. Each failure is one
UsageError line (exit 2). Probes that break the rules on purpose (scenarios, the REPL, /raw) do not come
through here."""

from __future__ import annotations

import math
import re

from smtpprobe.errors import UsageError

MAX_TIMEOUT = 3600.0  # seconds: the largest --timeout any command takes
MAX_HOST = 253  # RFC 1035 §2.3.4: 255 octets on the wire, 253 characters written
MAX_ADDRESS = 320  # RFC 5321 §4.5.3.1: 64-octet local part, @, 255-octet domain
MAX_TOML_DEPTH = 32  # arrays and inline tables nested in a profile or scenario file

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §2.2: printable US-ASCII but ':'
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a tab is allowed in a header value


def number(value: float, option: str, low: float, high: float) -> float:
    """VALUE if finite and within [LOW, HIGH] (nan and inf are not), else one clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{option}: {value!r} is not a finite number")
    if not low <= value <= high:
        raise UsageError(f"{option}: {value:g} is out of range ({low:g} to {high:g})")
    return value


def address(value: str, option: str) -> str:
    """An envelope address (without the angle brackets): one that would close the <...> and add ESMTP
    parameters (`a@b.test> NOTIFY=SUCCESS`), or break the line, is refused. A space is allowed only
    inside a quoted local part ("john doe"@example.org, RFC 5321 §4.1.2)."""
    problem = ""
    if len(value) > MAX_ADDRESS:
        problem = f"longer than {MAX_ADDRESS} characters"
    elif any(c in value for c in "<>"):
        problem = "'<' or '>' would end the address and let the rest be read as ESMTP parameters"
    elif _CONTROL.search(value) or "\t" in value:
        problem = "a control character (a line break would start another command)"
    else:
        unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', "", value)
        if " " in unquoted or '"' in unquoted:
            problem = "a space outside a quoted local part would end the address"
    if problem:
        raise UsageError(f"{option} {value!r}: {problem}")
    return value


def helo_name(value: str, option: str = "--helo") -> str:
    if not value or len(value) > MAX_HOST + 2 or any(c.isspace() or not c.isprintable() for c in value):
        raise UsageError(f"{option} {value!r}: a name (or [address literal]) without spaces or control characters")
    return value


def host(value: str, option: str = "--server") -> str:
    """A host to connect to: an IP address or a name the resolver can take (IDNA refuses a label longer
    than 63 characters with an exception, not an answer)."""
    name = value.strip("[]")
    if any(c.isspace() or not c.isprintable() for c in name):
        raise UsageError(f"{option} {value!r}: a host name without spaces or control characters")
    if ":" in name:  # an IPv6 address
        return value
    if len(name) > MAX_HOST:
        raise UsageError(f"{option}: host name of {len(name)} characters; at most {MAX_HOST} (RFC 1035)")
    labels = name.rstrip(".").split(".")
    long = next((label for label in labels if len(label) > 63), None)
    if long is not None:
        raise UsageError(f"{option}: host name label of {len(long)} characters; at most 63 (RFC 1035)")
    return value


def header(text: str) -> tuple[str, str]:
    """'Name: value' from --header, refusing what would add a header of its own (a line break) or is not
    a header at all. A non-ASCII value is allowed (the message builder encodes it, RFC 2047)."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise UsageError(f"--header {text!r}: expected 'Name: value'")
    if not _HEADER_NAME.fullmatch(name):
        raise UsageError(f"--header {text!r}: a header name is printable US-ASCII without spaces or ':' "
                         "(RFC 5322 §2.2)")
    if "\r" in value or "\n" in value:
        raise UsageError(f"--header {text!r}: a line break in the value would add another header")
    if _CONTROL.search(value):
        raise UsageError(f"--header {text!r}: a control character in the value")
    return name, value


def toml_depth(text: str, what: str) -> None:
    """Refuse TOML whose arrays and inline tables nest deeper than MAX_TOML_DEPTH before parsing it: the
    parser recurses once per level, so a file of 100,000 '[' is an exception, not a profile."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            triple = text.startswith(c * 3, i)
            close = c * 3 if triple else c
            j = i + len(close)
            while j < n and not text.startswith(close, j):
                if c == '"' and text[j] == "\\":
                    j += 1
                elif not triple and text[j] == "\n":
                    break
                j += 1
            i = j + len(close)
            continue
        elif c in "[{":
            depth += 1
            if depth > MAX_TOML_DEPTH:
                raise UsageError(f"{what}: arrays or tables nested deeper than {MAX_TOML_DEPTH} levels")
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
