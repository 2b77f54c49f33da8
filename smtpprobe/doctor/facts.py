"""What both report formats say, computed once: the header facts, the headline, the transcripts and the
command line that reproduces the run. Plain strings; Markdown and HTML escaping is the renderers' job."""

from __future__ import annotations

import shlex

from smtpprobe import __version__
from smtpprobe.doctor.probe import Probe
from smtpprobe.doctor.run import DoctorReport
from smtpprobe.transcript import TextRenderer

SECTIONS = (
    ("yours", "Problems on the sender's side",
     "Each of these is for the sender to fix; receivers commonly refuse mail for them."),
    ("theirs", "The receiver's policy",
     "Refusals that come from the receiving server's own rules or state, not from a fault of the sender."),
    ("unclear", "Undetermined: the receiving admin's log decides",
     "Refusals either side can cause. The receiving server's log names the rule that fired."),
    ("advice", "Worth fixing on the sender's side", "Warnings: not a reason to refuse on their own."),
    ("tls", "The receiver's TLS",
     "What a TLS scan of the ports reached found (smtpprobe tls): not why mail was refused, worth telling its admin."),
)


def facts(r: DoctorReport) -> list[tuple[str, str]]:
    o = r.opts
    source = ", ".join(r.local_addresses) or "no connection made"
    target = f"{r.target.name} [{r.target.address}] ({r.target.how})" if r.target else f"not found: {r.target_error}"
    rows = [
        ("Tested at (UTC)", r.started.strftime("%Y-%m-%d %H:%M:%S")),
        ("Sender (MAIL FROM)", o.sender),
        ("Sending IP (--ip)", o.ip),
        ("Probes connected from", source),
        ("HELO name", o.helo),
        ("Target", target),
        ("Recipient (RCPT TO)", r.recipient),
        ("Ports", ", ".join(str(p) for p in o.plan)),
        ("Message sent", "yes: DATA with a small test message (--send)" if o.send else
         "no: each conversation ended after RCPT TO, before DATA"),
        ("DKIM selectors", ", ".join(o.selectors) or "common names probed"),
        ("Tool", f"smtpprobe {__version__} doctor, {r.seconds:g} s"),
    ]
    return rows


def headline(r: DoctorReport) -> tuple[str, str]:
    """(verdict sentence, state) with state 'ok' | 'fail' | 'incomplete'."""
    v = r.verdict
    counts = []
    if v.theirs:
        counts.append(f"{len(v.theirs)} refusal(s) from the receiver's policy")
    if v.unclear:
        counts.append(f"{len(v.unclear)} undetermined")
    tail = f" ({'; '.join(counts)})" if counts else ""
    if v.yours:
        return f"{len(v.yours)} problem(s) on the sender's side{tail}.", "fail"
    if not v.reached:
        return f"Nothing wrong found in the sender's DNS, but no port of the target could be reached{tail}.", \
            "incomplete"
    return f"Nothing wrong found on the sender's side{tail}.", "ok"


def probe_title(p: Probe) -> str:
    if p.ok:
        state = "accepted" + (f" ({p.stopped})" if p.stopped else "")
    elif p.reply is not None:
        state = f"refused at {p.failed_stage.upper() if p.failed_stage else '?'}: {p.reply.code}"
    else:
        state = f"failed at {p.failed_stage}: {p.error_kind}"
    tls = f", {p.tls['version']}" if p.tls else ""
    return f"Port {p.plan} — {state}{tls}"


def transcript_lines(p: Probe) -> list[str]:
    renderer = TextRenderer(show_time=False, colour=False, show_secrets=False)
    return [line for event in p.transcript.events for line in renderer.lines(event)]


def command_line(r: DoctorReport) -> str:
    o = r.opts
    args = ["smtpprobe", "doctor", "--from", o.sender, "--ip", o.ip, "--helo", o.helo]
    if o.server:
        args += ["--server", o.server]
    if o.to:
        args += ["--to", o.to]
    if o.ports:
        args += ["--port", o.ports]
    for sel in o.selectors:
        args += ["--dkim-selector", sel]
    if o.resolver:
        args += ["--resolver", o.resolver]
    for zone in o.dnsbl or []:
        args += ["--dnsbl", zone]
    if o.auth_user:
        args += ["--auth-user", o.auth_user]  # never the password
    if o.send:
        args.append("--send")
    return shlex.join(args)
