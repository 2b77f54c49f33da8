"""The key-exchange group questions of a scan (the I/O; groups.py plans them, hello.py reads the answers).

TLS 1.3: an empty key_share makes the server name its group in a HelloRetryRequest (RFC 8446 §4.1.4). Below
TLS 1.3, at the highest version accepted with (EC)DHE suites: the curve named in each ServerKeyExchange
(RFC 8422 §5.4) for the ECDHE curves, and the DH prime of the DHE ones, which says whether the server
negotiates the RFC 7919 groups the client lists or sends its own prime whatever the client offers.
Each enumeration asks one question per group found plus one that is refused; the TLS 1.2 curves one more
when an ECDSA certificate's curve hides the server's order (groups.py). Every one is bounded by its
candidates and by the scan's deadline.
"""

from __future__ import annotations

import time

from smtpprobe.errors import SmtpProbeError
from smtpprobe.tlsscan import groups as g
from smtpprobe.tlsscan.hello import GROUPS, TLS13, VERSION_NAMES, client_hello
from smtpprobe.tlsscan.probe import Endpoint, ask
from smtpprobe.tlsscan.registry import SUITES

TLS13_SUITES = [c for c in SUITES if 0x1300 < c < 0x1306]
EC_CANDIDATES = g.EC_OFFER
FFDHE_CANDIDATES = list(g.FFDHE)


def tls13(ep: Endpoint, name: str | None, deadline: float) -> dict:
    """{version, groups, note}: the groups a TLS 1.3 server names in HelloRetryRequests, until it refuses."""
    offered = list(GROUPS)
    out: dict = {"version": VERSION_NAMES[TLS13], "groups": [], "note": None}
    for _ in range(len(GROUPS)):
        if time.monotonic() > deadline:
            out["note"] = _spent(ep)
            break
        try:
            flight = ask(ep, client_hello(TLS13, TLS13_SUITES, name, offered, key_share=False))
        except SmtpProbeError as exc:
            out["note"] = str(exc)
            break
        hello = flight.hello
        if hello is None or hello.version != TLS13 or hello.group not in offered:
            out["note"] = None if hello is not None or flight.alert else flight.error
            break
        out["groups"].append(GROUPS[hello.group])
        offered.remove(hello.group)
    return out


def legacy(ep: Endpoint, name: str | None, version: int, suites: list[dict], deadline: float) -> dict:
    """{version, groups, note, dhe} at `version` (below TLS 1.3), from its accepted `suites`: the curves
    its ECDHE suites accept (and the FFDHE groups its DHE suites negotiate), and for DHE suites {negotiated,
    prime}: prime is the RFC 7919 group sent whatever the client offers, None for the server's own prime.
    Empty lists and None where the version has no such suites."""
    out: dict = {"version": VERSION_NAMES[version], "groups": [], "note": None, "dhe": None}
    ec = [s for s in suites if g.key_exchange(s["name"]) == "ecdhe"]
    if ec:
        plain = [s["code"] for s in ec if "_ECDSA_" not in s["name"]]  # no certificate curve to keep
        out["groups"], out["note"] = _curves(ep, name, version, plain or [s["code"] for s in ec], deadline)
    dh = [s["code"] for s in suites if g.key_exchange(s["name"]) == "dhe"]
    if dh:
        named, out["dhe"], note = _ffdhe(ep, name, version, dh, deadline)
        out["groups"] += named
        out["note"] = out["note"] or note
    return out


def _curves(ep, name, version: int, suites: list[int], deadline: float) -> tuple[list[str], str | None]:
    search = g.GroupSearch(EC_CANDIDATES)

    def read(flight) -> tuple[int | None, str | None]:
        if flight.group is None:
            return None, f"no named curve in the ServerKeyExchange ({flight.error or 'not sent'})"
        return flight.group, None

    def after(flight) -> None:
        if search.anchor is None and "_ECDSA_" in SUITES.get(flight.hello.suite, ""):
            search.anchor = g.certificate_curve(flight.leaf)  # must stay in every offer from now on

    note = _search(ep, name, version, suites, deadline, search, len(EC_CANDIDATES) + 2, read, after)
    found = [g.name(c) for c in search.found]
    if note is None and search.ignored is not None:
        note = (
            f"the server chose {g.name(search.ignored)}, which was not offered: it ignores the client's list"
        )
    elif note is None and not search.complete:
        note = (
            f"groups the server ranks below {g.name(search.anchor)}, the curve of its ECDSA certificate, cannot "
            "be asked: every TLS 1.2 hello must offer that curve (RFC 8422 §4), and the server then picks it"
        )
    return found, note


def _ffdhe(
    ep, name, version: int, suites: list[int], deadline: float
) -> tuple[list[str], dict | None, str | None]:
    """RFC 7919 §4: a server that negotiates FFDHE answers with one of the groups offered, or not with DHE.
    One that does not sends its own prime whatever is offered: the same prime after it was taken out."""
    search = g.GroupSearch(FFDHE_CANDIDATES)

    def read(flight) -> tuple[int | None, str | None]:
        if flight.dh_prime is None:
            return None, f"no DH prime in the ServerKeyExchange ({flight.error or 'not sent'})"
        return g.ffdhe(flight.dh_prime), None

    note = _search(ep, name, version, suites, deadline, search, len(FFDHE_CANDIDATES) + 1, read)
    if search.ignored is not None:  # the same prime whatever is offered
        prime = None if search.ignored == g.OWN_PRIME else g.name(search.ignored)
        return [], {"negotiated": False, "prime": prime}, note
    if note and not search.found:
        return [], None, note
    return [g.name(c) for c in search.found], {"negotiated": True, "prime": None}, note


def _search(ep, name, version, suites, deadline, search, rounds, read, after=None) -> str | None:
    """Asks what `search` offers until it is done, `read(flight)` giving the group chosen or why the answer
    cannot be read; `after(flight)` runs once that answer is taken. The note that ended it early, if any."""
    for _ in range(rounds):
        if search.done:
            return None
        flight, note = _ask(ep, name, version, suites, search.offer(), deadline)
        if note:
            return note
        if flight is None:
            search.answer(None)
            continue
        chosen, note = read(flight)
        if note:
            return note
        search.answer(chosen)
        if after is not None:
            after(flight)
    return None


def _ask(ep, name, version: int, suites: list[int], offer: list[int], deadline: float):
    """(flight, None) for a hello of `version` with one of `suites`, (None, None) for a refusal, (None, why)
    when the question could not be asked or the answer fits neither."""
    if time.monotonic() > deadline:
        return None, _spent(ep)
    try:
        flight = ask(ep, client_hello(version, suites, name, groups=offer), want_key_exchange=True)
    except SmtpProbeError as exc:
        return None, str(exc)
    hello = flight.hello
    if hello is None:
        return (None, None) if flight.alert else (None, flight.error or "no answer")
    if hello.version != version or hello.suite not in suites:
        return None, "the server answered with a version or suite that was not offered"
    return flight, None


def _spent(ep: Endpoint) -> str:
    from smtpprobe.tlsscan.scan import BUDGET

    return f"not asked: the scan's {BUDGET * ep.timeout:g}s were spent"
