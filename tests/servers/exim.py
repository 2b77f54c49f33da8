"""Real Exim 4.96 (Debian 12 exim4-daemon-light, unpacked, not installed) for the multi-MTA bed (pytest plugin).

Debian's exim4 package conflicts with postfix (installing it removes postfix), so scripts/deps/mtabed.unpack
has install-system-deps unpack it under .testbed/unpacked/exim4-daemon-light/; we run
``exim4 -C <our config> -bdf -oX <port>`` from there, one foreground daemon per instance, in a fresh
/tmp/mtabed-exim-* directory (spool, log, maildirs).

Fixtures
--------
``exim_hardened``   (session) -- HELO/EHLO required before MAIL (``503 HELO or EHLO required``), no relay
    (``550 relay not permitted``), unknown local users ``550 Unrouteable address``, STARTTLS offered (our
    self-signed cert), limits: 10 connections per host, 100 recipients, 10 MB, 3 bad commands.
``exim_permissive`` (session) -- Exim's as-shipped acceptance made an open relay: any HELO or none, every
    recipient accepted, STARTTLS not offered.
``exim_factory``    (function) -- ``exim_factory("hardened" | "permissive" | "prdr")``: a private instance for
    tests that count messages. "prdr" is the hardened one offering PRDR (``prdr_enable``), with a per-recipient
    data ACL (``acl_smtp_data_prdr``) that refuses user@ a message whose Subject has "refuse-user"; Exim runs
    that ACL only for two or more recipients (one gets a single reply, no 353).

API (``start_exim(config) -> BedInstance``, see tests/servers/_mta_bed.py)
    ``host``, ``port`` / ``ports`` ({"mx": port}), ``local_rcpt`` (postmaster@lab.test), ``local_user``
    (user@lab.test), ``tls``, ``cert_path``, ``version`` ("4.96"), ``startup_seconds``, ``log()`` (mainlog +
    rejectlog + daemon output), ``delivered(rcpt=None)``, ``relayed()``, ``settle()``, ``stop()``.
    Local users postmaster/user at lab.test and mx.lab.test go to maildirs under <workdir>/mail/<user>;
    every foreign domain is routed to the catch-all maildir <workdir>/relayed (``relayed()``), each copy
    with an ``Envelope-to:`` header naming the recipient Exim routed it for.
    ``settle()`` waits until every message id the mainlog shows as received (``<=``) is ``Completed``.

Pitfalls found building this (Exim 4.96-15+deb12u10)
    * The binary looks up its compiled-in user ``Debian-exim`` before reading any config
      (``exim: failed to find uid for user name "Debian-exim"``): the package's postinst never ran, so the
      fixture creates that system user.
    * ``-C`` with a config not in TRUSTED_CONFIG_LIST makes Exim drop root for deliveries ("exim user lost
      privilege for using -C option"): deliveries run as Debian-exim, so the maildirs are owned by it and the
      transports set no other user. The config itself must stay owned by root ("has the wrong owner").
    * Exim re-executes itself for every delivery from the compiled-in path /usr/sbin/exim4 (not installed):
      ``exim_path`` must point into the unpacked tree.
    * A maildir path built from ``$local_part`` is "tainted" and refused; use ``$local_part_data`` (set by
      the router's ``local_parts`` list).
    * Without ``keep_environment =`` every command logs "Warning: purging the environment".
    * ``-oP pidfile`` is refused once privilege is dropped; the fixture owns the foreground process (-bdf).
"""

from __future__ import annotations

import os
import re
import time

from tests.servers._mta_bed import (
    UNPACKED,
    BedInstance,
    bed_fixture,
    chown_tree,
    ensure_system_user,
    factory_fixture,
    launch,
    new_instance,
    unpacked_missing_reason,
    wait_until,
)
from tests.servers._postfix_bed import make_cert

EXIM = UNPACKED / "exim4-daemon-light" / "usr" / "sbin" / "exim4"
EXIM_USER = "Debian-exim"

_COMMON = """\
keep_environment =
exim_path = {exim}
spool_directory = {wd}/spool
log_file_path = {wd}/log/%slog
primary_hostname = mx.lab.test
domainlist local_domains = lab.test : mx.lab.test
local_interfaces = 127.0.0.1
never_users = root
host_lookup =
rfc1413_hosts =
acl_smtp_helo = acl_helo
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data
"""

_HARDENED = """\
tls_advertise_hosts = *
tls_certificate = {wd}/cert.pem
tls_privatekey = {wd}/key.pem
smtp_accept_max = 20
smtp_accept_max_per_host = 10
recipients_max = 100
message_size_limit = 10M
smtp_max_unknown_commands = 3
smtp_max_synprot_errors = 3

begin acl
acl_helo:
  accept
acl_mail:
  deny    condition = ${{if def:sender_helo_name {{no}}{{yes}}}}
          message = HELO or EHLO required
  accept
acl_rcpt:
  accept  domains = +local_domains
          local_parts = postmaster : user
  deny    domains = +local_domains
          message = Unrouteable address
  deny    message = relay not permitted
acl_data:
  accept
"""

_PERMISSIVE = """\
tls_advertise_hosts =

begin acl
acl_helo:
  accept
acl_mail:
  accept
acl_rcpt:
  accept
acl_data:
  accept
"""

# PRDR (draft-hall-prdr-00): the hardened server, offering PRDR, whose per-recipient data ACL refuses user@
# a message whose Subject says "refuse-user": one message, a verdict per recipient after the data.
_PRDR_MAIN = """\
prdr_enable = true
acl_smtp_data_prdr = acl_data_prdr
"""

_PRDR_ACL = """\
acl_data_prdr:
  deny    local_parts = user
          condition = ${{if match{{$h_subject:}}{{refuse-user}}}}
          message = user does not take this content
  accept
"""

_ROUTING = """\

begin routers
local_user:
  driver = accept
  domains = +local_domains
  local_parts = postmaster : user
  transport = local_maildir
catch_all:
  driver = accept
  domains = ! +local_domains
  transport = relay_maildir

begin transports
local_maildir:
  driver = appendfile
  directory = {wd}/mail/${{local_part_data}}
  maildir_format
  create_directory
relay_maildir:
  driver = appendfile
  directory = {wd}/relayed
  maildir_format
  envelope_to_add
  create_directory
"""

NOTES = {
    "hardened": "HELO required, relay refused, STARTTLS offered, connection/recipient/size limits",
    "permissive": "open relay (every recipient accepted, relayed to a local catch-all), no TLS",
    "prdr": "hardened, offering PRDR; its per-recipient data ACL refuses user@ a message whose Subject has "
    "refuse-user",
}


class EximInstance(BedInstance):
    def log(self) -> str:
        parts = []
        for name in ("log/mainlog", "log/rejectlog", "log/paniclog", "server.log"):
            try:
                parts.append((self.workdir / name).read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)

    def _pending(self) -> set[str]:
        try:
            text = (self.workdir / "log" / "mainlog").read_text(errors="replace")
        except OSError:
            return set()
        received = set(re.findall(r" (\S{6}-\S{6}-\S{2}) <= ", text))
        done = set(re.findall(r" (\S{6}-\S{6}-\S{2}) Completed", text))
        return received - done

    def settle(self, timeout: float = 10.0) -> None:
        wait_until(lambda: not self._pending(), timeout, f"{self.name}: deliveries not completed", self.log)


def exim_missing_reason() -> str | None:
    return unpacked_missing_reason("Exim", EXIM, "needs root (binds, runs deliveries as Debian-exim)")


def start_exim(config: str = "hardened", ready_timeout: float = 20.0) -> EximInstance:
    t0 = time.monotonic()
    inst = new_instance(EximInstance, "exim", "Exim", config, NOTES, "4.96")
    ensure_system_user(EXIM_USER)
    wd = inst.workdir
    for sub in ("spool", "log", "mail", "relayed"):
        (wd / sub).mkdir()
    inst.cert_path, _key = make_cert(wd)
    if config == "prdr":
        conf = _COMMON + _PRDR_MAIN + _HARDENED + _PRDR_ACL + _ROUTING
    else:
        conf = _COMMON + (_HARDENED if config == "hardened" else _PERMISSIVE) + _ROUTING
    (wd / "exim.conf").write_text(conf.format(wd=wd, exim=EXIM))
    chown_tree(wd, EXIM_USER)
    os.chown(wd / "exim.conf", 0, 0)  # Exim refuses a config not owned by root ("wrong owner")
    (wd / "exim.conf").chmod(0o644)
    inst.tls = config in ("hardened", "prdr")
    argv = [str(EXIM), "-C", str(wd / "exim.conf"), "-bdf", "-oX", str(inst.port)]
    return launch(inst, argv, ready_timeout, t0)


exim_hardened = bed_fixture("exim-hardened")
exim_permissive = bed_fixture("exim-permissive")
exim_factory = factory_fixture("exim_factory", "Exim", exim_missing_reason, start_exim)
