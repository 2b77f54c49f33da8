"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): record and policy syntax, MX matching (pure), and the
policy fetch over HTTPS (I/O, bounded: no redirects, 64 KiB, one timeout)."""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass, field

from smtpprobe import tlsfiles
from smtpprobe.errors import UsageError

MAX_POLICY = 64 * 1024  # RFC 8461 §3.3: senders may limit the policy body; 64 KiB is what they use
MAX_AGE = 31557600  # RFC 8461 §3.2: max_age at most one year
_ID = re.compile(r"[A-Za-z0-9]{1,32}")


@dataclass
class Policy:
    version: str = ""
    mode: str = ""
    mx: list[str] = field(default_factory=list)
    max_age: int | None = None
    errors: list[str] = field(default_factory=list)


def parse_txt(text: str, version: str) -> tuple[dict[str, str], list[str]]:
    """`v=STSv1; id=...` or `v=TLSRPTv1; rua=...`: tags and syntax errors (RFC 8461 §3.1, RFC 8460 §3)."""
    tags: dict[str, str] = {}
    errors: list[str] = []
    parts = [p.strip() for p in text.split(";")]
    for part in parts:
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            errors.append(f"'{part[:40]}' is not key=value")
            continue
        tags.setdefault(key.strip(), value.strip())
    if not parts or parts[0].replace(" ", "") != f"v={version}":
        errors.append(f"must start with v={version}")
    if version == "STSv1" and not _ID.fullmatch(tags.get("id", "")):
        errors.append("id= must be 1 to 32 letters or digits")
    if version == "TLSRPTv1":
        rua = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
        if not rua:
            errors.append("rua= is missing")
        bad = [u for u in rua if not re.fullmatch(r"(mailto:[^@\s]+@[^@\s]+|https://\S+)", u)]
        if bad:
            errors.append(f"rua= must be mailto: or https: URIs, got {bad[0][:60]}")
    return tags, errors


def parse_policy(body: str) -> Policy:
    """RFC 8461 §3.2: `key: value` lines (CRLF or LF)."""
    policy = Policy()
    for line in body.splitlines()[:1000]:
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            policy.errors.append(f"line '{line[:40]}' is not key: value")
            continue
        key, value = key.strip(), value.strip()
        if key == "version":
            policy.version = value
        elif key == "mode":
            policy.mode = value
        elif key == "mx":
            policy.mx.append(value.lower().rstrip("."))
        elif key == "max_age":
            policy.max_age = int(value) if value.isdigit() and len(value) <= 10 else -1
    if policy.version != "STSv1":
        policy.errors.append(f"version must be STSv1, got {policy.version or '(none)'}")
    if policy.mode not in ("enforce", "testing", "none"):
        policy.errors.append(f"mode must be enforce, testing or none, got {policy.mode or '(none)'}")
    if policy.max_age is None or not 0 <= policy.max_age <= MAX_AGE:
        policy.errors.append(f"max_age must be 0 to {MAX_AGE} seconds")
    if not policy.mx and policy.mode != "none":
        policy.errors.append("no mx: line")
    return policy


def mx_matches(host: str, patterns: list[str]) -> bool:
    """RFC 8461 §4.1: a pattern is a name or `*.` plus a name; the wildcard stands for one label."""
    host = host.lower().rstrip(".")
    label, _, parent = host.partition(".")
    return any(p == host or (p.startswith("*.") and parent and label and p[2:] == parent) for p in patterns)


def fetch(domain: str, address: str, timeout: float, ca_file: str | None) -> tuple[str | None, str | None]:
    """GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt from `address` (mta-sts.DOMAIN resolved by the
    caller's resolver), certificate verified for mta-sts.DOMAIN (RFC 8461 §3.3). (body, None) or
    (None, why not)."""
    import http.client

    host = f"mta-sts.{domain}"
    try:
        tlsfiles.check_trust_store(ca_file)  # OpenSSL would block for ever on a FIFO
        context = ssl.create_default_context(cafile=ca_file)
    except UsageError as exc:
        return None, str(exc)
    except (OSError, ssl.SSLError) as exc:
        return None, f"cannot read CA file {ca_file}: {exc}"
    context.hostname_checks_common_name = False
    try:
        with (
            socket.create_connection((address, 443), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as sock,
        ):
            sock.settimeout(timeout)
            request = f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            sock.sendall(request.encode("ascii", "replace"))
            response = http.client.HTTPResponse(sock)
            response.begin()
            if response.status != 200:  # 3xx included: RFC 8461 §3.3, redirects MUST NOT be followed
                return None, f"HTTPS answered {response.status} {response.reason[:60]} (200 required)"
            kind = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            body = response.read(MAX_POLICY + 1)
            if len(body) > MAX_POLICY:
                return None, "the policy is larger than 64 KiB"
            if kind != "text/plain":
                return None, f"Content-Type is {kind or '(none)'}, RFC 8461 §3.2 requires text/plain"
            return body.decode("utf-8", "replace"), None
    except ssl.SSLCertVerificationError as exc:
        return None, f"the certificate of {host} does not verify: {exc.verify_message}"
    except TimeoutError:
        return None, f"https://{host}/ did not answer within {timeout:g}s"
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        return None, f"cannot fetch https://{host}/.well-known/mta-sts.txt: {exc}"
