"""What a scenario is, once loaded and validated: immutable data, no I/O.

A scenario is a list of steps run on one connection. A step may carry an expectation (it is then
judged) or none (a setup step: it must simply work, or the scenario could not be tested).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

PORT_ROLES: tuple[str, ...] = ("mx", "submission", "smtps", "lmtp")  # lmtp: scenarios that say LHLO (RFC 2033)
DEFAULT_PORTS: dict[str, int] = {"mx": 25, "submission": 587, "smtps": 465, "lmtp": 24}
Basis = Literal["rfc", "hardening"]
BASES: tuple[str, ...] = ("rfc", "hardening")
CONNECT_MODES: tuple[str, ...] = ("auto", "plain", "tls", "starttls")
ID = re.compile(r"[a-z0-9][a-z0-9._-]*")  # scenario, case and step names
OPT_IN = {"attack", "tls-posture"}  # tags that run only when selected (`--only attack`, `--only tls-posture`, `all`)


@dataclass(frozen=True)
class Expectation:
    """What a step's outcome must look like. Every key given must hold (AND); `any_of` is an OR."""

    codes: tuple[int, ...] = ()  # exact reply codes, any of them
    classes: tuple[int, ...] = ()  # first digits: 2, 3, 4, 5
    enhanced: tuple[str, ...] = ()  # "5.7.1", or with wildcards "5.7.*"
    text: Any = None  # compiled by scenario.regex (RE2, linear time): searched in the reply text, case-insensitive
    refused: bool | None = None  # True: a 4xx/5xx reply or the connection closed; False: 2xx/3xx
    closed: bool | None = None  # the server closed the connection (after its reply, if any)
    silent: bool | None = None  # no reply at all within the step's timeout
    tls: bool | None = None  # TLS is (True) or is not (False) up after the step
    advertises: tuple[str, ...] = ()  # EHLO keywords that must be offered
    not_advertises: tuple[str, ...] = ()  # EHLO keywords that must not be offered
    replies: int | None = None  # exactly this many replies in the step (a STARTTLS injection: one too many)
    accepted_at_most: int | None = None  # at most this many 2xx/3xx replies in the step (smuggling: 1)
    same_as: str | None = None  # the reply's code equals that of the named earlier step's reply (VRFY)
    any_of: tuple[Expectation, ...] = ()
    describe: str | None = None  # how the explanation names what was expected (else generated)

    def wants_close_check(self) -> bool:
        """Only a top-level `closed = true` waits for the hang-up after a reply; inside any_of, `closed`
        matches a connection already closed (so a refusal with a reply does not wait)."""
        return self.closed is True


@dataclass(frozen=True)
class Step:
    kind: str  # a key of smtpprobe.scenario.steps.KINDS
    arg: object  # the action's value: a template string, a list of them, seconds, a mode, a table
    number: int  # 1-based, as written in the file
    name: str | None = None
    expect: Expectation | tuple[Expectation, ...] | None = (
        None  # a tuple only for `pipeline`: one per command
    )
    warn_if: Expectation | None = (
        None  # checked before `expect`: an answer worth only a warn, whatever the policy
    )
    info_if: Expectation | None = None  # checked first: leniency the RFC allows, worth an info
    repeat: int = 1  # the command sent this many times; the first refusal (or the last reply) decides
    since: int | None = None  # window start (step number): "refused at or before this step, from step N on"
    when: tuple[str, Expectation] | None = None  # sent only if the named earlier step's reply matched this
    timeout: float | None = None  # seconds for this step's reply (default: the run's --timeout)
    if_missing: Literal["skip", "fail", "try"] = "skip"  # starttls/auth when the server does not offer it
    basis: Basis | None = None  # overrides the scenario's, for this step's judgement
    reference: str | None = None
    why: str | None = None
    line: int | None = None  # where the step starts in its file, for messages

    @property
    def judged(self) -> bool:
        return self.expect is not None

    def label(self) -> str:
        return f"step {self.number}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class Scenario:
    id: str  # the result id: "open-relay/percent-hack" for a case of "open-relay"
    title: str
    basis: Basis
    reference: str  # "RFC 5321 §4.5.5", or the hardening practice it follows
    why: str  # why it matters: the end of every non-pass explanation
    ports: tuple[str, ...]  # port roles it applies to
    steps: tuple[Step, ...]
    tags: tuple[str, ...] = ()
    exclusive: bool = False  # run alone, after the others (bursts, limits)
    variables: dict[str, str] = field(default_factory=dict)  # the file's [vars] and the case's values
    source: str = ""  # the file it came from
    base_id: str = ""  # the id written in the file (without the case)
    case: str | None = None
    judge_gates: tuple[str, ...] = ()  # gate kinds that are this scenario's subject: judged, not gates

    @property
    def delivers(self) -> bool:
        """Sends complete messages to {local_rcpt}: runs only with an explicit --local-rcpt."""
        return "delivers" in self.tags

    def matches(self, selectors: tuple[str, ...]) -> bool:
        """--only / --skip: an id prefix or a tag; `all` matches everything, `conformance` every scenario
        that is neither a security probe (tag `attack`) nor a TLS scan (tag `tls-posture`: dozens of
        handshakes per port and DANE/MTA-STS look-ups in the DNS, so opt-in like the probes)."""
        return any(
            self.id.startswith(s)
            or s in self.tags
            or s == "all"
            or (s == "conformance" and not OPT_IN & set(self.tags))
            for s in selectors
        )
