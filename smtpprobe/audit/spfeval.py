"""check_host() with pyspf 2.0.14, routed through the audit's resolver.

Workarounds (pyspf 2.0.14, 2020):
- its DNS goes through the module-global `spf.DNSLookup` (dnspython's *default* resolver, deprecated
  `dns.resolver.query`), so we replace that function with one that asks our Resolver (its cache included,
  which the tree walk has already warmed, and its --resolver IP:PORT and --timeout);
- SERVFAIL and timeouts must become `spf.TempError`, NXDOMAIN/NODATA an empty list, as it expects;
- an invalid IP raises PermError from the `query` constructor: we validate the IP before;
- importing it emits SyntaxWarning/DeprecationWarning on Python >= 3.12: silenced at import.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

from smtpprobe.audit.resolver import Resolver, Status

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import spf  # pyspf

_lock = threading.Lock()  # spf.DNSLookup is process-global: one evaluation at a time


@dataclass
class SpfResult:
    identity: str  # "mfrom" or "helo"
    sender: str
    result: str
    code: int
    explanation: str
    lookups: int
    void_lookups: int

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _make_lookup(resolver: Resolver):
    def lookup(name: str, qtype: str, strict: bool = True, timeout: float = 0) -> list[Any]:
        result = resolver.lookup_sync(str(name), qtype)
        if result.status == Status.CNAME_LOOP and result.chain:
            # pyspf follows CNAMEs itself and treats a loop as no data (RFC 7208 §5.5: a DNS error in a PTR
            # name's A lookup skips that name): hand it the chain instead of an error
            return [((owner, "CNAME"), target) for owner, target in result.chain]
        if result.failed:
            raise spf.TempError(f"DNS {result.describe()} for {name} {qtype}")
        if qtype in ("TXT", "SPF"):
            return [((name, qtype), list(strings)) for strings in result.records]
        return [((name, qtype), value) for value in result.records]

    return lookup


def not_checkable(domain: str) -> str | None:
    """RFC 7208 §4.3: a malformed domain (an empty or over-long label, a single label) gives `none` at once,
    and §2.3: an address-literal HELO is not checked. pyspf 2.0.14 queries such names anyway (and a resolver
    that refuses them turns `none` into temperror), so this is decided before pyspf runs."""
    if domain.startswith("["):
        return "an address literal is not checked (RFC 7208 §2.3)"
    labels = domain[:-1].split(".") if domain.endswith(".") else domain.split(".")
    if len(labels) < 2 or any(not 0 < len(label) < 64 for label in labels):
        return f"{domain!r} is malformed or a single label (RFC 7208 §4.3)"
    return None


def evaluate(resolver: Resolver, ip: str, sender: str, helo: str, identity: str) -> SpfResult:
    """Runs in a worker thread. `sender` empty -> postmaster@helo is checked (RFC 7208 §2.4); `identity`
    ("mfrom" or "helo") names which check this is."""
    why = not_checkable(sender.rpartition("@")[2] if sender else helo)
    if why:
        return SpfResult(identity, sender or f"postmaster@{helo}", "none", 250, why, 0, 0)
    with _lock:
        saved = spf.DNSLookup
        spf.DNSLookup = _make_lookup(resolver)
        try:
            q = spf.query(i=ip, s=sender, h=helo, strict=True, timeout=resolver.timeout,
                          querytime=max(resolver.timeout * 4, 20))
            result, code, explanation = q.check()
        except Exception as exc:  # noqa: BLE001 - pyspf bugs on odd records must not become a traceback
            return SpfResult(identity, sender or f"postmaster@{helo}", "temperror", 451,
                             f"pyspf failed: {type(exc).__name__}: {exc}", 0, 0)
        finally:
            spf.DNSLookup = saved
    return SpfResult(identity, sender or f"postmaster@{helo}", result, code,
                     str(explanation), int(getattr(q, "lookups", 0)), int(getattr(q, "void_lookups", 0)))
