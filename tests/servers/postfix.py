"""Real Postfix test bed: private Postfix instances started by the tests (pytest plugin).

Every instance is its own Postfix (own master, config_directory, queue_directory, data_directory,
maillog) in a fresh ``/tmp/pfbed-XXXX`` directory; the system's default instance is never used or
touched (``/etc/postfix/main.cf`` may not even exist after the "No configuration" install). It listens
on three free loopback ports, so any number of instances run side by side with other servers.

Fixtures
--------
``postfix_strict``  (session) -- profile "strict", conformance.md §4.6 strict instance.
``postfix_open``    (session) -- profile "open", open relay, HELO optional.
``postfix_factory`` (function) -- ``postfix_factory(profile="default", overrides=None, **kw)`` starts a
    fresh instance, stopped at the end of the test. Extra instances with one knob changed are a one-liner::

        inst = postfix_factory("strict", {"smtpd_client_connection_count_limit": 3})
        inst = postfix_factory("strict", {"smtpd_forbid_bare_newline": "yes"})

Session instances are shared: a test that counts delivered messages should use its own instance from
``postfix_factory`` (or compare counts before/after). Without root, or without Postfix installed
(``scripts/install-system-deps``), the fixtures call ``unavailable()``: skip locally, fail under CI=true.

API (tests.servers._postfix_bed, re-exported here)
--------------------------------------------------
``start_postfix(profile="default", overrides=None, *, workdir=None, ready_timeout=20.0) -> PostfixInstance``
    ``profile``: "default" (plain Postfix 3.7 defaults: HELO optional, relay -> ``454 4.7.1 ... Relay
    access denied`` from the built-in defer_unauth_destination), "strict" or "open" (see PROFILES).
    ``overrides``: main.cf settings applied last (``True``/``False`` -> yes/no, lists joined by ", ").
    Returns once all three ports greet (bounded); on failure raises PostfixStartError carrying the
    ``postfix start`` output, ``postfix check`` output and the maillog tail. A port race (another
    process took a port between free_port() and bind) is retried with new ports.

``PostfixInstance``
    ``host`` ("127.0.0.1"), ``smtp_port`` (MX: plain, STARTTLS offered), ``submission_port``
    (smtpd_tls_security_level=encrypt: ``530 5.7.0 Must issue a STARTTLS command first``),
    ``smtps_port`` (smtpd_tls_wrappermode=yes), ``ports`` (dict name -> port),
    ``myhostname`` ("mx.lab.test"), ``local_domain`` ("lab.test"), ``local_rcpt``
    ("postmaster@lab.test"), ``local_user`` ("user@lab.test"), ``cert_path``/``key_path`` (self-signed
    EC cert for mx.lab.test + IP 127.0.0.1, made at start; use it as cafile), ``workdir``,
    ``config_dir``, ``queue_dir``, ``maillog_path``, ``main_cf`` (dict as written), ``profile``,
    ``startup_seconds``.
    ``delivered(rcpt=None, settle=True) -> list[bytes]``: messages delivered to the local maildirs
    (oldest first; as stored by virtual(8): LF line ends, Return-Path/Delivered-To/Received prepended);
    waits (bounded) for the queue to drain first, so counts are final.
    ``relayed(settle=True) -> list[bytes]``: mail accepted for other domains. Nothing ever leaves the host:
    default_transport/relay_transport is a catch-all maildir ("relaybox" service). Bounces land there too.
    ``wait_delivered(count, rcpt=None, timeout=10)``, ``settle(timeout)``, ``deferred_count()``,
    ``maillog()`` (str), ``postconf(*args)``, ``postfix(*args)``, ``check_output()``,
    ``reconfigure(**main_cf)`` (rewrite main.cf + ``postfix reload``), ``our_pids()``,
    ``stop(remove=True)`` (postfix stop, wait, SIGKILL stragglers by PID, delete workdir).
    Also a context manager.

Mail layout: mydestination = lab.test, mx.lab.test; local recipients postmaster@lab.test,
user@lab.test (and postmaster@mx.lab.test -> postmaster's box) from an ``inline:`` map used as
local_recipient_maps; local_transport = virtual(8) writing maildirs under ``<workdir>/mail``. Unknown
local users get ``550 5.1.1 <x@lab.test>: Recipient address rejected: User unknown in local recipient
table``. lab.test is a *local* (mydestination) domain, not a virtual one, on purpose: only then does
trivial-rewrite apply the %-hack/source-route stripping, so ``victim%example.net@lab.test`` gets
``554 5.7.1 ... Relay access denied`` as in conformance.md §4.6.

127.0.0.1 is an *outside* client: mynetworks = 127.0.0.2/32 (except profile "open":
0.0.0.0/0). Postfix exempts $mynetworks from relay checks, anvil limits
(smtpd_client_event_limit_exceptions) and smtpd_forbid_bare_newline (..._exclusions), so on the
"open" profile connection/rate limits and bare-newline rejection never trigger -- use "strict" or
"default" with overrides for those.

Pitfalls found building this (Postfix 3.7.11, Debian 12)
--------------------------------------------------------
* Postfix distrusts config files modified within the last second: every command re-reads main.cf
  in 0.3 s steps until it is old enough (~1.5 s per start). We backdate main.cf/master.cf/maps with
  os.utime; start is then ~0.1 s.
* ``postfix start`` runs slow integrity checks (post-install, find over the install, postsuper)
  unless ``$queue_directory/quick-start`` exists; we create the queue layout ourselves and touch it.
* The workdir must be traversable by the ``postfix`` user: pytest's tmp_path lives under a 0700
  directory, hence /tmp/pfbed-* (short, also keeps UNIX socket paths under 108 bytes).
* ``maillog_file`` is refused unless it is under ``maillog_file_prefixes`` (default /var, /dev/stdout)
  and needs the ``postlog`` unix-dgram service in master.cf.
* No chroot in master.cf (chroot would need copies of /etc files in the queue directory).
* ``-o syslog_name=$syslog_name/...`` in master.cf is a macro loop; write the literal name.
* Running as root, ``postfix -c DIR`` needs no ``alternate_config_directories`` entry (that check
  is for the set-gid postdrop/postqueue), so no default instance configuration is needed.
* Debian compiles compatibility_level=0; we set 3.6 (what Debian's generated main.cf sets) so the
  3.x defaults of conformance.md §4.2 apply and no backwards-compatibility warnings are logged.
* Processes of an instance are found by ``MAIL_CONFIG=<config_dir>`` in /proc/PID/environ (master
  passes it to every child); teardown kills only those PIDs.
* Readiness probes (one connection per port at start) are made from 127.0.0.2, because anvil counts
  connections per client address: probing from 127.0.0.1 would eat into a test's
  smtpd_client_connection_rate_limit budget. They show as ``unknown[127.0.0.2]`` in the maillog.
* Delivery is asynchronous (qmgr -> virtual) after ``250 2.0.0 Ok: queued``: read mailboxes with
  ``delivered()`` (waits for the queue to drain), not by listing the maildir right away.
* ``smtplib`` mangles source-routed addresses (``<@a:b@c>``) through email.utils.parseaddr: send
  those with a raw socket.
* A test process killed with SIGKILL leaves its instance running; the next ``start_postfix()`` reaps
  /tmp/pfbed-* directories whose ``owner.pid`` process is gone (``reap_stale()``).
* ``strace -f postfix start`` was seen to hang (strace keeps following the daemonised master); trace
  a single daemon instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from tests.servers._common import unavailable
from tests.servers._postfix_bed import (
    LOCAL_MAILBOXES,
    PROFILES,
    PostfixInstance,
    PostfixStartError,
    reap_stale,
    start_postfix,
)

__all__ = [
    "LOCAL_MAILBOXES",
    "PROFILES",
    "PostfixInstance",
    "PostfixStartError",
    "postfix_missing_reason",
    "reap_stale",
    "start_postfix",
]


def postfix_missing_reason() -> str | None:
    """Why a private Postfix cannot run here, or None."""
    import grp
    import pwd

    if os.geteuid() != 0:
        return "Postfix test bed needs root (master binds, drops privileges to user postfix)"
    if not (shutil.which("postfix") or os.path.exists("/usr/sbin/postfix")):
        return "postfix is not installed (run scripts/install-system-deps as root)"
    if not os.path.exists("/usr/lib/postfix/sbin/master"):
        return "postfix master daemon not found in /usr/lib/postfix/sbin"
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError:
        return "postfix user or postdrop group missing (broken postfix install)"
    return None


def _start(profile: str, overrides: dict[str, object] | None = None, **kw: object) -> PostfixInstance:
    reason = postfix_missing_reason()
    if reason:
        unavailable(reason)
    try:
        return start_postfix(profile, overrides, **kw)  # type: ignore[arg-type]
    except PostfixStartError as e:
        pytest.fail(f"Postfix test bed did not start:\n{e}", pytrace=False)


@pytest.fixture(scope="session")
def postfix_strict() -> Iterator[PostfixInstance]:
    inst = _start("strict")
    yield inst
    inst.stop()


@pytest.fixture(scope="session")
def postfix_open() -> Iterator[PostfixInstance]:
    inst = _start("open")
    yield inst
    inst.stop()


@pytest.fixture
def postfix_factory() -> Iterator[Callable[..., PostfixInstance]]:
    started: list[PostfixInstance] = []

    def factory(
        profile: str = "default", overrides: dict[str, object] | None = None, **kw: object
    ) -> PostfixInstance:
        inst = _start(profile, overrides, **kw)
        started.append(inst)
        return inst

    yield factory
    for inst in started:
        inst.stop()
