"""The `tls_posture` step: a port's TLS scan (smtpprobe.tlsscan), judged for one topic.

The scan opens its own connections (it is a connecting step, like `burst`) and runs once per port in a
process: tls-versions, tls-ciphers, tls-features and tls-certificate share it. Its verdict enters the engine
as a reply of smtpprobe's own, marked "TLS scan:" (never the server's words): 250 nothing found, 450 a
finding worth a warn, 550 a finding that fails; the findings themselves go to the transcript.

The certificate must name the server: the target host, or the name in its greeting when the host is an
address. DANE and MTA-STS use the resolver in SMTPPROBE_RESOLVER (IP[:PORT]) when set, else the system's.
"""

from __future__ import annotations

import os
import threading

from smtpprobe.errors import TLSFailure, TransportError
from smtpprobe.protocol.reply import Reply
from smtpprobe.scenario.actions import AUTO_MODE, Context
from smtpprobe.scenario.expect import Outcome
from smtpprobe.scenario.model import Step
from smtpprobe.target import is_ip

CODES = {"fail": 550, "warn": 450}
DNS_TIMEOUT = (
    3.0  # seconds per DNS question of the dane/mta-sts scenarios: a resolver that does not answer skips
)
_scans: dict[tuple, object] = {}
_one_at_a_time = threading.Lock()  # scans of several ports never add up against a per-client connection limit


def tls_posture(ctx: Context, step: Step) -> Outcome:
    from smtpprobe.tls import printable  # imported here: ssl and the scanner only when a scan runs
    from smtpprobe.tlsscan import findings as fnd
    from smtpprobe.tlsscan.probe import Endpoint

    outcome = Outcome()
    session = ctx.session
    starttls = AUTO_MODE[ctx.role] != "tls"
    ep = Endpoint(
        session.host, session.port, starttls, helo=ctx.env.fill("{helo}"), timeout=ctx.step_timeout(step)
    )
    name = None if is_ip(session.host) else session.host
    try:
        result = _scan(ep, name, os.environ.get("SMTPPROBE_TLS_CA_FILE"))
    except TransportError as exc:
        from smtpprobe.tlsscan.scan import ScanIncomplete

        ctx.unreachable = not isinstance(exc, ScanIncomplete)  # refused by limits is not unreachable
        outcome.failure = str(exc)
        return outcome
    except TLSFailure as exc:
        outcome.missing = str(exc)  # STARTTLS not offered: not applicable (starttls-offered judges that)
        return outcome
    check = str(step.arg)
    if check in ("dane", "mta-sts"):
        report = _mail_auth(check, ctx, result)
        for line in report.lines():
            session.transcript.info(line)
        if not report.applicable:
            outcome.missing = report.summary
            return outcome
        found = report.findings
    elif check == "features" and not result.features:
        outcome.missing = (
            "no version below TLS 1.3 is accepted (TLS 1.3 has no renegotiation, no compression)"
        )
        return outcome
    else:
        found = {
            "versions": fnd.versions,
            "ciphers": lambda r: fnd.ciphers(r, ctx.role),
            "features": fnd.features,
            "certificate": lambda r: fnd.certificate(r, ctx.role),
        }[check](result)
        session.transcript.info(
            f"TLS scan of port {ep.port} in {result.seconds:.2f}s: accepted "
            f"{', '.join(result.accepted()) or 'nothing'}; {len(result.suites())} suites"
        )
    for f in found:
        session.transcript.info(f"{f.severity}: {printable(f.text, 1000)} [{f.reference}]")
    worst = next((s for s in ("fail", "warn") if any(f.severity == s for f in found)), None)
    shown = [f.text for s in ("fail", "warn") for f in found if f.severity == s] or [_passed(check, result)]
    text = "TLS scan: " + printable("; ".join(shown), 2000)
    outcome.replies.append(Reply(CODES.get(worst or "", 250), (text,), text.encode("utf-8", "replace")))
    return outcome


def _passed(check: str, result) -> str:
    if check == "versions":
        return f"only {', '.join(result.accepted())} accepted"
    if check == "ciphers":
        return f"{len(result.suites())} suites, none anonymous, NULL, EXPORT, RC4 or DES"
    if check == "certificate":
        return "chain, name and expiry are in order"
    if check == "features":
        return "secure renegotiation, no compression"
    return f"{check} in order"


def _scan(ep, name: str | None, ca_file: str | None):
    """One scan per port per process, shared by the scenarios that judge it (they run concurrently)."""
    from smtpprobe.tlsscan.scan import scan

    key = (ep.host, ep.port, ep.starttls, name, ca_file)
    with _one_at_a_time:
        if key not in _scans:
            try:
                _scans[key] = scan(ep, name, ca_file)
            except (TransportError, TLSFailure) as exc:
                _scans[key] = exc
        cached = _scans[key]
    if isinstance(cached, Exception):
        raise cached
    return cached


def _mail_auth(check: str, ctx: Context, result):
    from smtpprobe.tlsscan.mailauth import check_dane, check_mta_sts

    resolver = os.environ.get("SMTPPROBE_RESOLVER")
    timeout = min(ctx.timeout, DNS_TIMEOUT)
    if check == "dane":
        return check_dane(result.name or ctx.session.host, result.port, result, resolver, timeout)
    domain = ctx.env.fill("{local_domain}")
    return check_mta_sts(
        domain,
        result.name or ctx.session.host,
        result,
        resolver,
        timeout,
        os.environ.get("SMTPPROBE_TLS_CA_FILE"),
    )
