"""`--message`: verify every DKIM-Signature of a message with dkimpy, through the audit's resolver.

Workarounds (dkimpy 1.1.8): its default dnsfunc treats SERVFAIL like NXDOMAIN (PERMFAIL "missing key")
and reads only the first TXT record, so we pass our own dnsfunc; `dkim.verify()` checks the first
signature only, so we loop over `DKIM.verify(idx=i)`; it accepts rsa-sha1 (RFC 8301 forbids it),
so we flag that ourselves; any exception it raises is reported, never propagated.
"""

from __future__ import annotations

import re
from typing import Any

from smtpprobe.audit import findings as F
from smtpprobe.audit.resolver import Resolver

R = "RFC 6376"


def _dnsfunc(resolver: Resolver, failures: list[str]):
    import dkim

    def get_txt(name: bytes, timeout: float = 5) -> bytes | None:
        lookup = resolver.lookup_sync(name.decode("ascii", "replace"), "TXT")
        if lookup.failed:  # dkimpy catches this itself and returns False: remember it was temporary
            failures.append(f"{lookup.name}: {lookup.describe()}")
            raise dkim.DnsTimeoutError(lookup.describe())
        records = lookup.txt()
        return records[0] if records else None

    return get_txt


def signature_tags(header_value: bytes) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in re.sub(rb"\s+", b"", header_value).split(b";"):
        name, _, value = part.partition(b"=")
        tags.setdefault(name.decode("ascii", "replace"), value.decode("ascii", "replace"))
    return tags


def verify_message(resolver: Resolver, message: bytes) -> tuple[list[dict[str, Any]], list[F.Finding]]:
    """Runs in a worker thread. Returns one entry per signature and the findings."""
    import dkim

    try:
        d = dkim.DKIM(message, minkey=1024, timeout=resolver.timeout)
        sigs = [value for name, value in d.headers if name.lower() == b"dkim-signature"]
    except Exception as exc:  # noqa: BLE001
        return [], [F.error("dkim.message", f"cannot parse the message: {F.printable(str(exc))}", "", "RFC 5322")]
    if not sigs:
        return [], [F.error("dkim.unsigned", "the message has no DKIM-Signature", "Sign outgoing mail.", R)]
    results: list[dict[str, Any]] = []
    out: list[F.Finding] = []
    for idx, value in enumerate(sigs):
        tags = signature_tags(value)
        label = f"signature d={tags.get('d', '?')} s={tags.get('s', '?')}"
        failures: list[str] = []
        try:
            ok = d.verify(idx=idx, dnsfunc=_dnsfunc(resolver, failures))
            outcome = "pass" if ok else "temperror" if failures else "fail"
            reason = "" if ok else f"key lookup failed: {failures[0]}" if failures else "signature did not verify"
        except dkim.DnsTimeoutError as exc:
            outcome, reason = "temperror", f"key lookup failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - dkimpy raises many types (KeyFormatError, binascii.Error, ...)
            outcome, reason = "fail", f"{type(exc).__name__}: {exc}"
        results.append({"domain": tags.get("d"), "selector": tags.get("s"), "algorithm": tags.get("a"),
                        "result": outcome, "reason": reason})
        if outcome == "pass":
            out.append(F.ok("dkim.signature", f"{label}: pass", R))
        elif outcome == "temperror":
            out.append(F.error("dkim.signature-temperror", f"{label}: {F.printable(reason)}",
                               "Fix the DNS of the signing domain.", f"{R} §6.1.2"))
        else:
            out.append(F.error("dkim.signature-fail", f"{label}: {F.printable(reason)}",
                               "Check the key published at the selector and that nothing rewrites the message.",
                               f"{R} §6.1"))
        if tags.get("a", "").lower() == "rsa-sha1":
            out.append(F.error("dkim.signature-sha1", f"{label} uses rsa-sha1", "Sign with rsa-sha256.",
                               "RFC 8301 §3.1"))
    return results, out
