"""Key-exchange groups (pure): which structure a suite's ServerKeyExchange carries."""

from __future__ import annotations


def key_exchange(suite: str) -> str | None:
    """For a suite (IANA name) whose ServerKeyExchange names a curve, "ecdhe"; carries a DH prime, "dhe"
    (ephemeral or anonymous); else None. PSK suites are left out: their hint comes first, and no scan has a
    PSK to negotiate them with."""
    kex = suite.partition("_WITH_")[0]
    if "_PSK" in kex:
        return None
    if "_ECDHE_" in kex or "_ECDH_anon" in kex:
        return "ecdhe"
    if "_DHE_" in kex or "_DH_anon" in kex:
        return "dhe"
    return None
