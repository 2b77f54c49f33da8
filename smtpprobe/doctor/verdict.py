"""Sort what the doctor found into "your side", "their policy", "undetermined" and "verified".

Audit findings are about the sender's own DNS and host: errors are faults on the sender's side,
warnings are advice, OK findings are what the sender has verified. A refusal from the target is
explained by the knowledge base; its `side` ("sender", "receiver", "either") decides where it goes.
A refusal the knowledge base does not recognise is read from its enhanced code where that names a
sender-side authentication failure (X.7.23-X.7.27), else left undetermined: only the receiving
admin's log can tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from smtpprobe.audit import findings as F
from smtpprobe.doctor.probe import Probe

YOURS, THEIRS, UNCLEAR = "yours", "theirs", "unclear"
_SENDER_ENHANCED = {"5.7.23", "5.7.24", "5.7.25", "5.7.26", "5.7.27", "4.7.24", "4.7.25"}


@dataclass
class Item:
    source: str  # "audit" or the port, "25 (mx)"
    id: str  # the finding id, or "refused.<stage>" / "network" / "tls"
    summary: str  # one line
    fix: list[str] = field(default_factory=list)
    reply: str | None = None  # the refusing reply, as sent
    meaning: str | None = None  # the knowledge base's reading of it
    commands: list[str] = field(default_factory=list)  # smtpprobe commands that check it further
    ref: str = ""
    ports: list[int] = field(default_factory=list)  # the ports a refusal came from


@dataclass
class Verdict:
    yours: list[Item] = field(default_factory=list)
    advice: list[Item] = field(default_factory=list)  # warnings on the sender's side: worth fixing
    theirs: list[Item] = field(default_factory=list)
    unclear: list[Item] = field(default_factory=list)
    verified: list[Item] = field(default_factory=list)
    tls: list[Item] = field(default_factory=list)  # the receiver's TLS posture (smtpprobe.tlsscan.hooks)
    reached: int = 0  # ports where a connection was made

    @property
    def sender_ok(self) -> bool:
        return not self.yours


def judge(findings: list[F.Finding], probes: list[Probe], values: dict[str, str]) -> Verdict:
    v = Verdict()
    for f in findings:
        item = Item("audit", f.id, f.message, [f.fix] if f.fix else [], ref=f.rfc)
        {F.Severity.ERROR: v.yours, F.Severity.WARNING: v.advice, F.Severity.OK: v.verified}.get(
            f.severity, []).append(item)
    for p in probes:
        v.reached += p.peer is not None
        _judge_probe(v, p, values)
    return v


def _judge_probe(v: Verdict, p: Probe, values: dict[str, str]) -> None:
    where = str(p.plan)
    if p.ok:
        tls = f", {p.tls['version']}" if p.tls else ", no TLS offered" if p.plan.role == "mx" else ""
        done = " → ".join(p.steps)
        tail = f"; {p.stopped}" if p.stopped else ""
        v.verified.append(Item(where, "smtp.accepted", f"{p.target} port {p.plan.port}: {done} accepted{tls}{tail}"))
        return
    if p.error_kind == "network":
        v.unclear.append(Item(where, "smtp.network", f"{p.target} port {p.plan.port}: {p.error}", [
            "Outbound connections to this port may be blocked on your side (many ISPs and clouds block port 25)",
            "or the server is down or not listening on this port: try from another network, or ask the admin",
        ]))
        return
    if p.error_kind == "protocol":
        v.theirs.append(Item(where, "smtp.protocol", f"{p.target} port {p.plan.port}: the server broke the "
                             f"SMTP protocol: {p.error}"))
        return
    if p.reply is None:  # TLS set-up failed, or STARTTLS missing where it is required
        v.unclear.append(Item(where, f"smtp.{p.failed_stage}", f"{p.target} port {p.plan.port}: {p.error}", [
            "A TLS handshake failure is an old TLS stack on either side or a broken server certificate/setup"]))
        return
    _judge_refusal(v, p, where, values)


def _judge_refusal(v: Verdict, p: Probe, where: str, values: dict[str, str]) -> None:
    from smtpprobe.knowledge import explain_reply

    reply = p.reply
    assert reply is not None
    enhanced = reply.enhanced
    text = reply.text[len(enhanced):].strip() if enhanced else reply.text
    exp = explain_reply(reply.code, enhanced, text)
    side = exp.side or ("sender" if enhanced in _SENDER_ENHANCED else "either")
    title = exp.matches[0].title if exp.matches else (exp.enhanced_meaning or exp.basic_meaning or "")
    stage = (p.failed_stage or "").upper()
    what = _WHAT.get(stage, stage)
    for items in (v.yours, v.theirs, v.unclear):  # the same refusal on several ports: one item naming them all
        for seen in items:
            if seen.id == f"refused.{p.failed_stage}" and seen.reply == str(reply):
                seen.ports.append(p.plan.port)
                seen.source += f", {where}"
                seen.summary = f"{p.target} ports {', '.join(map(str, seen.ports))} refused {what}"
                return
    item = Item(where, f"refused.{p.failed_stage}", f"{p.target} port {p.plan.port} refused {what}",
                reply=str(reply), meaning=title, ports=[p.plan.port],
                commands=[fill_placeholders(c, _with_port(c, values, p.plan.port)) for c in exp.commands[:4]])
    if side == "sender":
        item.fix = list(exp.causes[:4]) + list(exp.checks[:2])
        v.yours.append(item)
    elif side == "receiver":
        item.fix = list(exp.checks[:3])
        v.theirs.append(item)
    else:
        item.fix = list(exp.causes[:4])
        v.unclear.append(item)


_WHAT = {"BANNER": "the connection (greeting)", "EHLO": "the EHLO/HELO", "TLS": "STARTTLS", "AUTH": "the login",
         "MAIL": "the sender (MAIL FROM)", "RCPT": "the recipient (RCPT TO)", "DATA": "DATA",
         "DOT": "the message (after the final dot)"}
def _with_port(command: str, values: dict[str, str], port: int) -> dict[str, str]:
    """HOST becomes HOST:PORT for a port other than 25, unless the command names its own --port."""
    if port == 25 or "--port" in command or "HOST" not in values:
        return values
    host = values["HOST"]
    return {**values, "HOST": f"[{host}]:{port}" if ":" in host else f"{host}:{port}"}


_PLACEHOLDERS = ("HOST", "DOMAIN", "IP", "NAME", "SEL")


def fill_placeholders(command: str, values: dict[str, str]) -> str:
    """The knowledge base writes commands with HOST, DOMAIN, IP, NAME, ADDR: put this run's values in."""
    out = command
    for key in _PLACEHOLDERS:
        if key in values:
            out = re.sub(rf"(?<![\w.-]){key}(?![\w.-])", lambda _m, k=key: values[k], out)
    for flag, key in (("--from", "FROM"), ("--to", "TO")):
        if key in values:
            out = re.sub(rf"{flag} ADDR\b", lambda _m, f=flag, k=key: f"{f} {values[k]}", out)
    if "RESOLVER" in values and re.match(r"smtpprobe (audit|doctor)\b", out) and "--resolver" not in out:
        out += f" --resolver {values['RESOLVER']}"  # the user's resolver: same answers as this run
    return out
