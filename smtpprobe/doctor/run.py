"""One doctor run: validate, check the sender's side, probe each port, judge, and keep it all."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from typing import Any

from smtpprobe.audit import findings as F
from smtpprobe.doctor.plan import Options, validate
from smtpprobe.doctor.probe import Probe, run_probe
from smtpprobe.doctor.target import Target, resolve_target
from smtpprobe.doctor.verdict import Verdict, judge
from smtpprobe.exitcodes import Exit


@dataclass
class DoctorReport:
    opts: Options
    started: datetime.datetime  # UTC
    target: Target | None
    recipient: str
    findings: list[F.Finding]
    audit: Any  # smtpprobe.audit.run.Report
    probes: list[Probe] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    target_error: str | None = None  # the target could not be found (MX lookup failed)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0: nothing wrong on the sender's side; 1: a fault there; 3: nothing wrong found, but no port
        could be reached, so the target's verdict is missing."""
        if self.verdict.yours:
            return int(Exit.FAILED)
        if not self.verdict.reached:
            return int(Exit.NETWORK)
        return int(Exit.OK)

    @property
    def local_addresses(self) -> list[str]:
        return sorted({p.local for p in self.probes if p.local})


def run_doctor(opts: Options, progress: Any = None) -> DoctorReport:
    """Run everything. `progress(line)` is told what is happening (the CLI prints it on stderr)."""
    say = progress or (lambda _line: None)
    opts = validate(opts)
    from smtpprobe.reach import check_resolver

    check_resolver(opts.resolver, opts.dns_timeout)  # else every DNS check below reads as the sender's fault
    started = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    t0 = time.monotonic()
    from smtpprobe.doctor.sender import check_sender

    say(f"checking the sender's DNS: {opts.sender.rsplit('@', 1)[1]}, IP {opts.ip}, HELO {opts.helo}")
    findings, audit = check_sender(opts)
    recipient = opts.to or "postmaster"  # RFC 5321 §4.1.1.3: every server must accept <postmaster>
    report = DoctorReport(opts, started, None, recipient, findings, audit)
    try:
        report.target = resolve_target(opts.server_host, opts.to, opts.resolver, opts.dns_timeout)
    except Exception as exc:
        from smtpprobe.errors import SmtpProbeError

        if not isinstance(exc, SmtpProbeError):
            raise
        report.target_error = str(exc)
    if report.target is not None:
        for plan in opts.plan:
            say(f"probing {report.target.name} port {plan}")
            report.probes.append(run_probe(opts, plan, report.target.name, report.target.address, recipient))
    values = {"HOST": report.target.name if report.target else (opts.server_host or "HOST"),
              "DOMAIN": opts.sender.rsplit("@", 1)[1], "IP": opts.ip, "NAME": opts.helo, "FROM": opts.sender,
              "TO": recipient}
    if opts.selectors:
        values["SEL"] = opts.selectors[0]
    if opts.resolver:
        values["RESOLVER"] = opts.resolver  # suggested audit/doctor commands ask the same resolver
    report.verdict = judge(findings, report.probes, values)
    if report.target is not None:  # the receiver's TLS versions, suites and certificate, per reached port
        from smtpprobe.tlsscan.hooks import doctor_items

        report.verdict.tls = doctor_items(report.probes, report.target.name, opts.timeout)
    _note_source_address(report)
    report.seconds = round(time.monotonic() - t0, 2)
    return report


def _note_source_address(report: DoctorReport) -> None:
    """The receiver judges the address a connection comes from: say so when it is not --ip."""
    from smtpprobe.doctor.verdict import Item

    others = [a for a in report.local_addresses if a != report.opts.ip]
    if others:
        report.verdict.advice.append(Item(
            "probe", "doctor.source-address",
            f"the probes came from {', '.join(others)}, not from --ip {report.opts.ip}",
            [("Run the doctor on the mail host itself (or --local-address IP) so the receiver sees the same "
             "address as your real mail; behind NAT the public address may still be --ip.")]))
