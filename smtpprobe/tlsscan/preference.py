"""Whether a server enforces its own cipher-suite order (pure): which two suites to ask about, and what the
two answers mean.

One version, two accepted suites, offered in one order and then in the other: the same suite chosen both
times is the server's order, the first one offered both times is the client's. It matters where weaker suites
are enabled: RFC 9325 §4.2.1 wants servers to prefer the strong suite "even if it is not the first proposal",
and a server in client order hands any client that lists a weak suite first that suite. TLS 1.3 is not
asked: every TLS 1.3 suite is strong (RFC 8446 §9.1), so whose order wins does not matter.
"""

from __future__ import annotations

from smtpprobe.tlsscan.grade import GRADES

SERVER, CLIENT, NOT_APPLICABLE = "server", "client", "not applicable"


def pair(suites: list[dict]) -> tuple[int, int] | None:
    """Two of a version's accepted suites (`{code, name, grade}` dicts, in the order found), weaker first: the
    weakest and the strongest, so that the answer also says which of the two the server's own order prefers.
    ChaCha20 suites are left out when two others remain: OpenSSL servers may pick ChaCha20 whenever the client
    lists it first, even in server order (SSL_OP_PRIORITIZE_CHACHA). None with fewer than two suites."""
    others = [s for s in suites if "CHACHA20" not in s["name"]]
    pool = others if len(others) >= 2 else suites
    if len(pool) < 2:
        return None
    rank = {s["code"]: GRADES.index(s["grade"]) for s in pool}
    strongest = min(pool, key=lambda s: rank[s["code"]])  # the earliest found among equals
    rest = [s for s in pool if s is not strongest]
    weakest = max(reversed(rest), key=lambda s: rank[s["code"]])  # the latest found among equals
    if rank[weakest["code"]] == rank[strongest["code"]]:
        return pool[1]["code"], pool[0]["code"]  # all alike: the server's first two picks, in reverse
    return weakest["code"], strongest["code"]


def verdict(offered: tuple[int, int], first: int | None, second: int | None) -> str | None:
    """SERVER or CLIENT from the suite chosen when `offered` was sent as is (`first`) and reversed (`second`);
    None when the answers fit neither (a refusal, a suite not offered, the last one offered both times)."""
    a, b = offered
    if first == second and first in offered:
        return SERVER
    if (first, second) == (a, b):
        return CLIENT
    return None
