"""One SMTP conversation per port, as the sender's MTA (or mail client) would have it, up to RCPT.

No DATA unless `send` is asked: a doctor run must not deliver anything by default. Every refusal
keeps the reply it came with, for the knowledge base to explain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from smtpprobe.doctor.plan import Options, PortPlan
from smtpprobe.errors import ProtocolError, SmtpProbeError, StageFailure, TLSFailure, TransportError
from smtpprobe.protocol.reply import Reply
from smtpprobe.session import Session
from smtpprobe.transcript import Transcript


@dataclass
class Probe:
    plan: PortPlan
    target: str
    transcript: Transcript
    steps: list[str]  # what was attempted, in order ("EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA")
    reached: str = ""  # the last stage passed
    stopped: str = ""  # why the conversation ended early on purpose ("no --auth-user"), else ""
    failed_stage: str | None = None
    error: str | None = None  # one line
    error_kind: str | None = None  # "refused" | "network" | "tls" | "protocol" | "auth-missing"
    reply: Reply | None = None  # the refusing reply, when there was one
    tls: dict[str, Any] | None = None
    local: str | None = None  # the address the connection came from
    peer: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class _Recording(Session):
    """A Session that keeps every reply: StageFailure carries only text, the verdict needs the Reply."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replies: list[Reply] = []

    def read_reply(self, timeout: float | None = None) -> Reply:
        reply = super().read_reply(timeout)
        self.replies.append(reply)
        return reply


def plan_transaction(opts: Options, plan: PortPlan, recipient: str) -> tuple[Any, list[str], str]:
    """(Transaction, the steps it will take, why it stops early or '')."""
    from smtpprobe.transaction import Transaction

    tls = {"mx": "optional", "submission": "starttls", "smtps": "implicit"}[plan.role]
    authenticate = plan.role != "mx" and opts.auth_user is not None
    steps = ["EHLO"] + (["STARTTLS"] if tls in ("optional", "starttls") else [])
    stopped = ""
    if plan.role != "mx" and not authenticate:
        # Submission is for a provider's own users: without credentials MAIL/RCPT would only show the
        # expected "relay access denied" or "authentication required". Stop once TLS and EHLO are seen.
        quit_after, stopped = ("tls" if tls == "starttls" else "ehlo"), "no --auth-user: stopped before AUTH"
    else:
        steps += (["AUTH"] if authenticate else []) + ["MAIL", "RCPT"]
        quit_after = None if opts.send else "rcpt"
        if opts.send:
            steps.append("DATA")
    message = None
    if opts.send and not stopped:
        from smtpprobe.message import build_message

        message = build_message(opts.sender, [recipient], [f"Subject: smtpprobe doctor test ({plan})"],
                                "A test message sent by smtpprobe doctor --send.", [], opts.helo)
    tx = Transaction(helo=opts.helo, sender=opts.sender, recipients=[recipient], message=message, tls=tls,
                     auth_mechanism=opts.auth_mechanism if authenticate else None, auth_user=opts.auth_user or "",
                     auth_password=opts.auth_password, quit_after=quit_after)
    return tx, steps, stopped


def run_probe(opts: Options, plan: PortPlan, host: str, address: str, recipient: str) -> Probe:
    from smtpprobe import transaction

    tx, steps, stopped = plan_transaction(opts, plan, recipient)
    transcript = Transcript()
    session = _Recording(address, plan.port, timeout=opts.timeout, connect_timeout=min(opts.timeout, 15),
                         local_address=opts.local_address, tls_name=host, tls_ca_file=opts.tls_ca_file,
                         transcript=transcript)
    probe = Probe(plan, host, transcript, steps, stopped=stopped)
    started = time.monotonic()
    try:
        transaction.run(session, tx)
        probe.reached = "DATA" if opts.send and not stopped else steps[-1]
    except StageFailure as exc:
        probe.failed_stage, probe.error = exc.stage, str(exc)
        refusal = [r for r in session.replies if r.category in (4, 5)]
        probe.reply = refusal[-1] if refusal else None
        probe.error_kind = "refused" if probe.reply else "tls" if exc.stage == "tls" else "refused"
    except TLSFailure as exc:
        probe.failed_stage, probe.error, probe.error_kind = "tls", str(exc), "tls"
    except TransportError as exc:
        probe.failed_stage = "connect" if session.peer is None else "network"
        probe.error, probe.error_kind = str(exc), "network"
    except ProtocolError as exc:
        probe.failed_stage, probe.error, probe.error_kind = "protocol", str(exc), "protocol"
    except SmtpProbeError as exc:
        probe.failed_stage, probe.error, probe.error_kind = "other", str(exc), "protocol"
    finally:
        session.close()
        probe.seconds = round(time.monotonic() - started, 3)
    probe.local = session.local[0] if session.local else None
    probe.peer = session.peer[0] if session.peer else None
    probe.tls = session.tls.to_dict() if session.tls else None
    probe.extensions = dict(session.extensions)
    return probe
