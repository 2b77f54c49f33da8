"""A port's TLS posture: versions, suites per version, key-exchange groups, the certificate chain.

Why this shape (and not a handshake per suite, as sslyze does): a ClientHello offering every suite the
registry knows makes the server name the one it prefers in its ServerHello, which is all we read; that
suite is removed and the question asked again until the server refuses (nmap's ssl-enum-ciphers does the
same). A version with n suites costs n + 1 short exchanges, no key is computed, and the five versions are
asked in parallel, with one SSLv2 CLIENT-HELLO beside them (sslv2.py: another record format). Then, per
version up to TLS 1.2, two more questions ask whose cipher order wins (preference.py), one hello at the
highest such version what it says about renegotiation, compression and heartbeat (features.py), and the
key-exchange groups are enumerated like the suites (kex.py). One real handshake (Python's ssl) reads the
certificate chain.
"""

from __future__ import annotations

import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from smtpprobe.errors import SmtpProbeError, TLSFailure, TransportError
from smtpprobe.tlsscan import grade, kex, preference, sslv2
from smtpprobe.tlsscan.features import read as read_features
from smtpprobe.tlsscan.groups import key_exchange
from smtpprobe.tlsscan.hello import (
    ALERTS,
    GROUPS,
    RECORD_VERSIONS,
    SSL2,
    SSL3,
    TLS13,
    VERSION_NAMES,
    client_hello,
)
from smtpprobe.tlsscan.probe import Endpoint, ask, connect_patiently, open_channel
from smtpprobe.tlsscan.registry import SUITES

MAX_ROUNDS = 80  # questions per version at most (a server would need 80 suites of one version)
BUDGET = 8  # a whole scan stops after this many --timeout periods (a server slow to answer every question)
PARALLEL = 3  # connections at once: well under per-client limits (Postfix 50, Exim often 10, the lab 10)
ORDER = [0x0303, 0x0301, 0x0302, 0x0304, 0x0300]  # TLS 1.2, 1.0, 1.1, 1.3, SSLv3
TLS13_SUITES = [c for c in SUITES if 0x1300 < c < 0x1306]
LEGACY_SUITES = [c for c in SUITES if c not in TLS13_SUITES]


class ScanIncomplete(TransportError):
    """Every question failed (connection limits, resets): nothing is known, nothing may be concluded."""


@dataclass
class VersionResult:
    version: str
    accepted: bool
    suites: list[dict] = field(default_factory=list)  # {code, name, grade, flags}, in the order found
    note: str | None = None  # why not accepted: the alert, or the lower version the server chose
    order: str | None = None  # whose cipher order wins: server, client, not applicable; None: unknown
    order_evidence: dict | None = None  # {offered: [a, b], chosen: [x, y]} or {error}


@dataclass
class ScanResult:
    host: str
    port: int
    starttls: bool
    name: str | None
    versions: list[VersionResult] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # every group seen, any version
    groups_by_version: dict[str, dict] = field(default_factory=dict)  # kex.legacy() / kex.tls13(), by version
    dh_bits: int | None = None  # the smallest DH prime of any DHE suite accepted
    features: dict = field(default_factory=dict)  # features.read(); {} when only TLS 1.3 is accepted
    certificate: dict = field(default_factory=dict)
    chain: list[bytes] = field(default_factory=list)  # DER, leaf first: for DANE matching (not in JSON)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def accepted(self) -> list[str]:
        return [v.version for v in self.versions if v.accepted]

    def suites(self) -> list[dict]:
        """The TLS suites accepted, any version; not SSLv2's cipher kinds (the SSLv2 finding names them)."""
        seen: dict[int, dict] = {}
        for v in self.versions:
            if v.version == VERSION_NAMES[SSL2]:
                continue
            for s in v.suites:
                seen.setdefault(s["code"], s)
        return list(seen.values())

    def to_dict(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "starttls": self.starttls,
            "name": self.name,
            "versions": [v.__dict__ for v in self.versions],
            "groups": self.groups,
            "groups_by_version": self.groups_by_version,
            "dh_bits": self.dh_bits,
            "features": self.features,
            "certificate": self.certificate,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


def scan(ep: Endpoint, name: str | None, ca_file: str | None = None) -> ScanResult:
    """Everything about one port. Raises TransportError/TLSFailure when the port cannot be asked at all
    (unreachable, STARTTLS not offered), ScanIncomplete when no version could be asked about (connection
    limits, resets); a question that fails midway is noted in `errors`."""
    start = time.monotonic()
    sock, greeted_as = open_channel(ep)  # one question first: unreachable or no STARTTLS is one clear error
    sock.close()
    name = name or greeted_as
    result = ScanResult(ep.host, ep.port, ep.starttls, name)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        deadline = start + BUDGET * ep.timeout
        cert = pool.submit(_certificate, ep, name, ca_file)
        # the versions with the most suites first, so three connections at a time finish together
        jobs = {
            v: pool.submit(_version, ep, v, name, deadline) for v in sorted(RECORD_VERSIONS, key=ORDER.index)
        }
        groups13 = pool.submit(kex.tls13, ep, name, deadline)
        old = pool.submit(_sslv2, ep)
        for job in jobs.values():
            vr, groups, dh_bits, errors = job.result()
            result.versions.append(vr)
            result.errors += errors
            result.groups += [g for g in groups if g not in result.groups]
            result.dh_bits = min(filter(None, [result.dh_bits, dh_bits]), default=None)
        asked = pool.submit(_features, ep, name, result.versions, deadline)
        groups12 = pool.submit(_groups_legacy, ep, name, result.versions, deadline)
        sslv2_result, sslv2_error = old.result()
        result.versions.append(sslv2_result)
        result.errors += [sslv2_error] if sslv2_error else []
        for found in (groups12.result(), groups13.result()):
            if found is not None and found["version"] in result.accepted():
                result.groups_by_version[found.pop("version")] = found
                result.groups += [g for g in found["groups"] if g not in result.groups]
        result.features = asked.result()
        try:
            result.certificate = cert.result()
        except SmtpProbeError as exc:
            result.errors.append(f"certificate: {exc}")
        result.name = result.name or result.certificate.pop("greeting_name", None)
        result.chain = result.certificate.pop("chain", [])
    result.versions.sort(key=lambda v: list(VERSION_NAMES.values()).index(v.version))
    result.seconds = time.monotonic() - start
    unasked = [e for e in result.errors if not e.startswith(("certificate:", "SSLv2:"))]
    if not result.accepted() and len(unasked) >= len(RECORD_VERSIONS):  # every version's question failed
        raise ScanIncomplete(f"no TLS version could be asked about: {unasked[0]}")
    return result


def _version(
    ep: Endpoint, version: int, name: str | None, deadline: float
) -> tuple[VersionResult, list[str], int | None, list]:
    """Ask for `version` with every suite, drop the one chosen, ask again; until the server refuses."""
    vr = VersionResult(VERSION_NAMES[version], accepted=False)
    offered = list(TLS13_SUITES if version == TLS13 else LEGACY_SUITES)
    groups: list[str] = []
    dh_bits = None
    errors: list[str] = []
    for _ in range(MAX_ROUNDS):
        if not offered:
            break
        if time.monotonic() > deadline:
            errors.append(
                f"{vr.version}: stopped after {BUDGET * ep.timeout:g}s, the list of suites may be incomplete"
            )
            break
        try:
            flight = ask(ep, client_hello(version, offered, name), want_key_exchange=version < TLS13)
        except SmtpProbeError as exc:
            errors.append(f"{vr.version}: {exc}")
            break
        hello = flight.hello
        if hello is None or hello.version != version or hello.suite not in offered:
            if not vr.accepted:
                vr.note = _refusal(flight, hello, version)
            break
        vr.accepted = True
        suite_name = SUITES.get(hello.suite, f"0x{hello.suite:04X}")
        vr.suites.append(
            {
                "code": hello.suite,
                "name": suite_name,
                "grade": grade.suite_grade(suite_name),
                "flags": grade.suite_flags(suite_name),
            }
        )
        offered.remove(hello.suite)
        group = hello.group if version == TLS13 else flight.group
        if group is not None and GROUPS.get(group, str(group)) not in groups:
            groups.append(GROUPS.get(group, str(group)))
        dh_bits = min(filter(None, [dh_bits, flight.dh_bits]), default=None)  # the weakest a client can get
    if vr.accepted:
        _order(ep, version, name, vr, deadline)
    return vr, groups, dh_bits, errors


def _order(ep: Endpoint, version: int, name: str | None, vr: VersionResult, deadline: float) -> None:
    """Two accepted suites offered in one order, then in the other: whose order the server follows."""
    offered = None if version == TLS13 else preference.pair(vr.suites)
    if offered is None:  # TLS 1.3 (all suites strong), or one suite: nothing to choose between
        vr.order = preference.NOT_APPLICABLE
        return
    chosen: list[int | None] = []
    for suites in (list(offered), list(offered)[::-1]):
        if time.monotonic() > deadline:
            vr.order_evidence = {"error": _spent(ep)}
            return
        try:
            hello = ask(ep, client_hello(version, suites, name)).hello
        except SmtpProbeError as exc:
            vr.order_evidence = {"error": str(exc)}
            return
        chosen.append(hello.suite if hello is not None and hello.version == version else None)
    vr.order = preference.verdict(offered, chosen[0], chosen[1])
    vr.order_evidence = {
        "offered": [SUITES[c] for c in offered],
        "chosen": [SUITES.get(c, f"0x{c:04X}") if c is not None else None for c in chosen],
    }


def _features(ep: Endpoint, name: str | None, versions: list[VersionResult], deadline: float) -> dict:
    """Renegotiation, compression, heartbeat: one hello at the highest accepted version below TLS 1.3,
    offering the suites it accepted there. Empty when only TLS 1.3 is accepted (it has none of the three
    in the ServerHello: renegotiation and compression are gone, a heartbeat would be encrypted)."""
    best = _highest_legacy(versions)
    if best is None:
        return {}
    version = _code(best.version)
    if time.monotonic() > deadline:
        return {"asked_with": best.version, "error": _spent(ep)}
    suites = [s["code"] for s in best.suites]
    try:
        flight = ask(ep, client_hello(version, suites, name, features=True))
    except SmtpProbeError as exc:
        return {"asked_with": best.version, "error": str(exc)}
    return read_features(flight, version)


def _groups_legacy(ep: Endpoint, name: str | None, versions: list[VersionResult], deadline: float):
    """The groups of the highest accepted version below TLS 1.3 with (EC)DHE suites (kex.legacy), or None."""
    with_kex = [v for v in versions if any(key_exchange(s["name"]) for s in v.suites)]
    best = _highest_legacy(with_kex)
    return kex.legacy(ep, name, _code(best.version), best.suites, deadline) if best else None


def _highest_legacy(versions: list[VersionResult]) -> VersionResult | None:
    """The highest accepted SSLv3..TLS 1.2 version with suites: what the one-hello questions ask with."""
    legacy = [v for v in versions if v.accepted and v.suites and SSL3 <= _code(v.version) < TLS13]
    return max(legacy, key=lambda v: _code(v.version), default=None)


def _code(version: str) -> int:
    return next(c for c, n in VERSION_NAMES.items() if n == version)


def _sslv2(ep: Endpoint) -> tuple[VersionResult, str | None]:
    """One SSLv2 CLIENT-HELLO: accepted only on an SSLv2 SERVER-HELLO; any other answer, none or a hang-up
    is a refusal, with what happened as its note. A question that could not be asked is an error."""
    vr = VersionResult(VERSION_NAMES[SSL2], accepted=False)
    try:
        answer = ask(ep, sslv2.client_hello(), parser=sslv2.AnswerParser())
    except SmtpProbeError as exc:
        vr.note = f"not asked: {exc}"
        return vr, f"{vr.version}: {exc}"
    if answer.hello is None:
        alert = f"TLS alert {ALERTS.get(answer.alert[1], answer.alert[1])}" if answer.alert else None
        vr.note = alert or answer.error or "refused"
        return vr, None
    vr.accepted, vr.order = True, preference.NOT_APPLICABLE  # SSLv2: the client picks among the kinds
    for kind in answer.hello.ciphers:
        name = sslv2.cipher_name(kind)
        vr.suites.append({"code": kind, "name": name, "grade": "insecure", "flags": sslv2.cipher_flags(name)})
    vr.note = None if vr.suites else "a SERVER-HELLO with no cipher kind in common"
    return vr, None


def _spent(ep: Endpoint) -> str:
    return f"not asked: the scan's {BUDGET * ep.timeout:g}s were spent"


def _certificate(ep: Endpoint, name: str | None, ca_file: str | None) -> dict:
    """One real handshake, any version and suite OpenSSL will still speak, to read the chain."""
    from smtpprobe.tls import peer_chain
    from smtpprobe.tlsscan.certinfo import describe_chain

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:  # read the certificate of a server that only speaks old TLS too (Debian's default is SECLEVEL 2)
        context.set_ciphers("ALL:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    except (ssl.SSLError, ValueError):
        pass
    sock = connect_patiently(ep)
    try:
        sock.settimeout(ep.timeout)
        sni = name if name and not name.replace(".", "").isdigit() and ":" not in name else None
        with context.wrap_socket(sock, server_hostname=sni) as tls_sock:
            greeted_as = None if name else _tls_greeting_name(tls_sock)
            chain = peer_chain(tls_sock)
            info = describe_chain(chain, name or greeted_as, ca_file)
            info["greeting_name"], info["chain"] = greeted_as, chain
            info["negotiated"] = f"{tls_sock.version()} {tls_sock.cipher()[0] if tls_sock.cipher() else '?'}"
            return info
    except TimeoutError:
        raise TransportError(f"TLS handshake did not finish within {ep.timeout:g}s") from None
    except (ssl.SSLError, OSError, ValueError) as exc:  # ValueError/UnicodeError: a name ssl cannot send
        raise TLSFailure(f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}") from None
    finally:
        sock.close()


def _tls_greeting_name(tls_sock: ssl.SSLSocket) -> str | None:
    """On implicit TLS the greeting comes inside TLS: its name, when the host given was an address."""
    from smtpprobe.protocol.reader import ReplyReader
    from smtpprobe.tlsscan.probe import greeting_name

    reader = ReplyReader()
    try:
        for _ in range(16):  # a greeting of a few lines; bounded by the reader's limits too
            data = tls_sock.recv(4096)
            if not data:
                return None
            replies = reader.feed(data)
            if replies:
                return greeting_name(replies[0]) if replies[0].code == 220 else None
    except (OSError, SmtpProbeError):
        return None
    return None


def _refusal(flight, hello, version: int) -> str:
    if hello is not None and hello.version != version:
        return f"the server chose {VERSION_NAMES.get(hello.version, hex(hello.version))} instead"
    if flight.alert is not None:
        return f"alert {ALERTS.get(flight.alert[1], flight.alert[1])}"
    return flight.error or "refused"
