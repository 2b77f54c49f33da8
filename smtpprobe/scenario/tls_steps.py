"""The `tls_posture` step kind's value (no I/O, no imports that cost): which part of a port's TLS posture
the step judges. Registered in steps.KINDS; the action is tls_actions.tls_posture."""

from __future__ import annotations

from smtpprobe.scenario.errors import SpecError

CHECKS = ("versions", "ciphers", "features", "certificate", "dane", "mta-sts")


def parse_tls_posture(value: object) -> str:
    if value not in CHECKS:
        raise SpecError("tls_posture", f"must be one of {', '.join(CHECKS)}, got {value!r}")
    return str(value)
