"""Open-file limit: 1000 held connections need 1000+ descriptors, and many systems start processes
with a soft limit of 1024. Raise the soft limit (never past the hard limit) just enough."""

from __future__ import annotations

import resource

from smtpprobe.errors import UsageError

SPARE = 64  # stdio, the event loop's own descriptors, DNS, imported modules


def ensure_open_files(concurrency: int) -> str | None:
    """Make room for `concurrency` sockets. Returns a note when the limit was raised, None when it was
    already enough; UsageError when even the hard limit is too low (no connection made)."""
    needed = concurrency + SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise UsageError(
            f"{concurrency} connections at once need about {needed} open files, but the hard limit is {hard}; "
            f"lower --concurrency to {max(1, hard - SPARE)} or raise the limit (ulimit -Hn)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return f"raised the open-file soft limit from {soft} to {needed} for {concurrency} connections at once"
