"""The multi-MTA test bed: every server of issue 11, hardened and permissive, behind one session fixture.

Servers (each a real process on free loopback ports; see its module for config details and pitfalls):
    postfix     3.7  (tests/servers/postfix.py, installed with apt)
    exim        4.96 (exim.py, Debian package unpacked)          hardened / permissive
    opensmtpd   6.8.0p2 (opensmtpd.py, unpacked, no TLS)         hardened / permissive
    chasquid    1.11 (chasquid.py, unpacked, CVE-2023-52354)     hardened / as-shipped
    haraka      3.3 (haraka.py, npm)                             hardened / permissive
    smtp-server 3.x (smtp_server_js.py, npm, nodemailer)         hardened / permissive / auth-first

Instance names are ``<server>-<config>`` (``BED_NAMES``); two gate cases besides:
    ``postfix-starttls-gate`` -- port 25 that answers ``530 5.7.0 Must issue a STARTTLS command first``
        to MAIL and, once inside TLS, relays to any domain (Postfix "open" + smtpd_tls_security_level=encrypt).
    ``smtp-server-auth-first`` -- MAIL before AUTH is ``530 Error: authentication Required``.

Fixtures
--------
``mtabed`` (session) -- a ``Bed``: ``mtabed.get(name) -> BedInstance`` starts the instance on first use and
    keeps it for the session (each server starts once per test session); all are stopped at the end.
    A server that cannot run here (no root, package not unpacked) -> ``unavailable()``: skip locally,
    fail under CI=true.
Per-server fixtures (``exim_hardened``, ``chasquid_as_shipped``, ...) are in the server modules; they use
this same registry, so a test asking for ``exim_hardened`` and one asking ``mtabed.get("exim-hardened")``
share one instance.

Every ``BedInstance`` (tests/servers/_mta_bed.py) has ``host``, ``ports`` (smtpprobe role -> port),
``local_rcpt``, ``local_user``, ``tls``, ``version``, ``startup_seconds``, ``notes``,
``delivered(rcpt=None)``, ``relayed()``, ``settle()``, ``log()``, ``smtpprobe_args()``, ``stop()``.
Session instances are shared: count messages as before/after differences, or look for a unique marker.

Ground truth helpers: tests/servers/_mta_truth.py (relay_truth, smuggle_truth: our own raw-socket client);
the compatibility matrix: tests/servers/_compat.py, scripts/compat-matrix, docs/compatibility.md.

Pitfalls common to the bed
    * The unpacked Debian packages never ran their maintainer scripts: the system users their binaries
      look up (Debian-exim; opensmtpd, opensmtpq) are created by the fixtures on first use (root only).
    * Each daemon runs in its own session (process group) so that stop() can end it and its delivery
      children by PID; a test run killed with SIGKILL leaves them running, and the next start reaps every
      /tmp/mtabed-* whose owner.pid is gone (``reap_stale()``, PIDs checked against their command line).
    * Deliveries are asynchronous on Exim (fork per message), OpenSMTPD (queue) and chasquid (queue):
      ``delivered()`` first waits on each server's own sentinel (mainlog ``Completed``, empty queue dir,
      mail log ``sent``/``all done``). Haraka and smtp-server store the message before their 250.
    * Start-up (this 2-core runner, loaded): Postfix 0.2-0.7 s, Exim 0.3-2.5 s, OpenSMTPD 0.1-0.3 s,
      chasquid 0.3-0.6 s, Haraka 0.7-2.6 s (node loads every plugin), smtp-server 0.6-0.9 s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers._common import unavailable
from tests.servers._mta_bed import BedInstance, BedStartError

# name -> (server, config)
BED_NAMES: dict[str, tuple[str, str]] = {
    "postfix-hardened": ("postfix", "hardened"),
    "postfix-permissive": ("postfix", "permissive"),
    "postfix-starttls-gate": ("postfix", "starttls-gate"),
    "exim-hardened": ("exim", "hardened"),
    "exim-permissive": ("exim", "permissive"),
    "opensmtpd-hardened": ("opensmtpd", "hardened"),
    "opensmtpd-permissive": ("opensmtpd", "permissive"),
    "chasquid-hardened": ("chasquid", "hardened"),
    "chasquid-as-shipped": ("chasquid", "as-shipped"),
    "haraka-hardened": ("haraka", "hardened"),
    "haraka-permissive": ("haraka", "permissive"),
    "smtp-server-hardened": ("smtp-server", "hardened"),
    "smtp-server-permissive": ("smtp-server", "permissive"),
    "smtp-server-auth-first": ("smtp-server", "auth-first"),
}


class PostfixBedInstance(BedInstance):
    """A private Postfix (tests/servers/_postfix_bed.py) seen through the bed's common API."""

    pf: object = None

    def settle(self, timeout: float = 10.0) -> None:
        self.pf.settle(timeout)  # type: ignore[attr-defined]

    def delivered(self, rcpt: str | None = None, *, timeout: float = 10.0) -> list[bytes]:
        return self.pf.delivered(rcpt, timeout=timeout)  # type: ignore[attr-defined]

    def relayed(self, *, timeout: float = 10.0) -> list[bytes]:
        return self.pf.relayed(timeout=timeout)  # type: ignore[attr-defined]

    def log(self) -> str:
        return self.pf.maillog()  # type: ignore[attr-defined]

    def stop(self, remove: bool = True) -> None:
        self.pf.stop(remove)  # type: ignore[attr-defined]


_POSTFIX = {
    # smtpd_forbid_bare_newline: Postfix 3.7 takes a bare <LF> as a line end unless told not to (the
    # CVE-2023-51764 fix is off by default before 3.9): without it this "hardened" Postfix is smugglable.
    "hardened": (
        "strict",
        {"smtpd_forbid_bare_newline": "yes"},
        "strict profile + smtpd_forbid_bare_newline=yes: HELO checks, relay refused, STARTTLS offered",
    ),
    "permissive": (
        "open",
        {},
        "Postfix 3.7 defaults made an open relay (mynetworks 0.0.0.0/0), HELO optional, STARTTLS",
    ),
    "starttls-gate": (
        "open",
        {"smtpd_tls_security_level": "encrypt"},
        "STARTTLS required before MAIL (530), then an open relay inside TLS",
    ),
}


def start_postfix_bed(config: str) -> PostfixBedInstance:
    from tests.servers._postfix_bed import PostfixStartError, start_postfix

    profile, overrides, notes = _POSTFIX[config]
    try:
        pf = start_postfix(profile, overrides)
    except PostfixStartError as e:
        raise BedStartError(str(e)) from None
    ports = {"mx": pf.smtp_port}
    if config == "hardened":
        ports.update(submission=pf.submission_port, smtps=pf.smtps_port)
    inst = PostfixBedInstance(
        server="postfix",
        config=config,
        workdir=Path(pf.workdir),
        version="3.7",
        ports=ports,
        tls=True,
        cert_path=pf.cert_path,
        startup_seconds=pf.startup_seconds,
        notes=notes,
    )
    inst.pf = pf
    return inst


def _starter(server: str) -> tuple[Callable[[str], BedInstance], Callable[[], str | None]]:
    if server == "postfix":
        from tests.servers.postfix import postfix_missing_reason

        return start_postfix_bed, postfix_missing_reason
    if server == "exim":
        from tests.servers.exim import exim_missing_reason, start_exim

        return start_exim, exim_missing_reason
    if server == "opensmtpd":
        from tests.servers.opensmtpd import opensmtpd_missing_reason, start_opensmtpd

        return start_opensmtpd, opensmtpd_missing_reason
    if server == "chasquid":
        from tests.servers.chasquid import chasquid_missing_reason, start_chasquid

        return start_chasquid, chasquid_missing_reason
    if server == "haraka":
        from tests.servers.haraka import haraka_missing_reason, start_haraka

        return start_haraka, haraka_missing_reason
    if server == "smtp-server":
        from tests.servers.smtp_server_js import smtp_server_missing_reason, start_smtp_server

        return start_smtp_server, smtp_server_missing_reason
    raise KeyError(server)


def missing_reason(name: str) -> str | None:
    server, _config = BED_NAMES[name]
    return _starter(server)[1]()


def start_bed_instance(name: str) -> BedInstance:
    """Start one instance by name (raises BedStartError; check missing_reason() first)."""
    server, config = BED_NAMES[name]
    return _starter(server)[0](config)


class Bed:
    def __init__(self) -> None:
        self.started: dict[str, BedInstance] = {}

    def get(self, name: str) -> BedInstance:
        if name not in BED_NAMES:
            raise KeyError(f"unknown bed instance {name!r}; known: {sorted(BED_NAMES)}")
        if name not in self.started:
            reason = missing_reason(name)
            if reason:
                unavailable(reason)
            try:
                self.started[name] = start_bed_instance(name)
            except BedStartError as e:
                pytest.fail(f"{name} did not start:\n{e}", pytrace=False)
        return self.started[name]

    def stop(self) -> None:
        for inst in self.started.values():
            inst.stop()
        self.started.clear()


@pytest.fixture(scope="session")
def mtabed() -> Iterator[Bed]:
    bed = Bed()
    yield bed
    bed.stop()
