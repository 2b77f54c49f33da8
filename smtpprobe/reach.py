"""Before a run opens dozens of connections: can each selected port be reached at all? One TCP connect per
port, all at once, bounded by the timeout, so an unreachable target costs one timeout and one line instead of
a row of identical errors per scenario (and minutes against a host that drops packets)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from smtpprobe.errors import TransportError


def unreachable(host: str, ports: dict[str, int], timeout: float) -> dict[str, str]:
    """{role: why} for every role whose port does not take a TCP connection. The connection is closed at
    once without a byte sent."""
    from smtpprobe.session import Session

    def attempt(port: int) -> str | None:
        session = Session(host, port, timeout=timeout, connect_timeout=timeout)
        try:
            session.connect()
        except TransportError as exc:
            return str(exc)
        finally:
            session.close()
        return None

    def probe(port: int) -> str | None:
        why = attempt(port)
        if why is None or why.startswith("cannot resolve") or "refused" in why:
            return why
        return attempt(port)  # a timeout or a reset may be passing (a loaded host): once more before giving up

    with ThreadPoolExecutor(max_workers=max(1, len(ports))) as pool:
        answers = dict(zip(ports, pool.map(probe, ports.values()), strict=True))
    return {role: why for role, why in answers.items() if why is not None}


def hint(why: str) -> str:
    """What to try next, for the usual causes."""
    if why.startswith("cannot resolve"):
        return "check the name in --server (a typo? a name only your resolver knows?)"
    if "refused" in why:
        return "nothing listens there: check --server and --port (`smtpprobe lab --port 0` prints the lab's ports)"
    return "a firewall may drop the packets (many networks block outgoing port 25); check --server and --port"


def check_resolves(host: str, port: int, family: int = 0) -> None:
    """TransportError, with what to try, when `host` has no address: before a command opens many connections
    that would each fail the same way."""
    import socket

    try:
        socket.getaddrinfo(host.strip("[]"), port, family, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransportError(
            f"cannot resolve {host}: {exc.strerror}; check the name (a typo?) or give an IP address"
        ) from None


def check_resolver(nameserver: str | None, timeout: float) -> None:
    """TransportError when the DNS server does not answer at all: every check that follows would time out,
    and each would be reported as a fault of its own. One query (the root's NS); any answer, even a refusal,
    shows the server is there."""
    from smtpprobe.audit.resolver import Resolver, Status

    lookup = Resolver(nameserver, timeout).lookup_sync(".", "NS")
    if lookup.status in (Status.TIMEOUT, Status.ERROR):
        where = nameserver or "of this system (/etc/resolv.conf)"
        raise TransportError(
            f"the DNS server {where} did not answer ({lookup.describe()}, {timeout:g}s): "
            "check --resolver IP[:PORT]"
        )
