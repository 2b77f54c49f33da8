"""Real OpenSMTPD 6.8.0p2 (Debian 12 package, unpacked, not installed) for the multi-MTA bed (pytest plugin).

OpenSMTPD has its spool (/var/spool/smtpd), control socket (/var/run/smtpd.sock), chroot
(/var/lib/opensmtpd/empty) and delivery helpers (/usr/libexec/opensmtpd/mail.*) compiled in. Each instance
therefore runs in its own mount namespace (``unshare -m``) where our work directory is bind-mounted over
/var/spool, /run, /var/lib and /usr/libexec (the unpacked helpers): instances never share a queue or a
control socket, and nothing outside the namespace changes.

Debian 12's build fails every TLS handshake (``EVP lib``, a known upstream bug of 6.8.0p2 with OpenSSL 3),
so no instance offers STARTTLS: both are tested in plaintext.

Fixtures
--------
``opensmtpd_hardened``   (session) -- local recipients only (others ``550 Invalid recipient``), HELO is
    always required by OpenSMTPD, 10 MB messages.
``opensmtpd_permissive`` (session) -- open relay: every recipient accepted, foreign ones delivered to the
    local catch-all maildir.
``opensmtpd_factory``    (function) -- ``opensmtpd_factory("hardened" | "permissive")``.

API (``start_opensmtpd(config) -> BedInstance``)
    ``host``, ``ports`` ({"mx": p}), ``local_rcpt``, ``local_user``, ``tls`` (False), ``version``
    ("6.8.0p2"), ``startup_seconds``, ``log()`` (smtpd -d -v output: one ``smtp`` line per command/result),
    ``delivered(rcpt=None)`` (maildirs <workdir>/mail/<user> written by mail.maildir), ``relayed()``
    (<workdir>/relayed), ``settle()`` (waits until the queue directory holds no envelope).

Pitfalls found building this (OpenSMTPD 6.8.0p2-4+b4)
    * The binary refuses to start without the users ``opensmtpd`` and ``opensmtpq`` ("unknown user
      opensmtpq"); the fixture creates them (system users, no login).
    * smtpd.conf and the spool must be owned by root and not group/world writable.
    * Local delivery goes through /usr/libexec/opensmtpd/mail.maildir, a compiled-in path: hence the bind
      mount of the unpacked usr/libexec.
    * Delivery runs as a system user: recipients are mapped by a ``virtual`` table to the user ``mail``,
      and the maildir path uses ``%{rcpt.user}`` (``%{dest.user}`` would be the mapped user, "mail").
"""

from __future__ import annotations

import os
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

PKG = UNPACKED / "opensmtpd"
SMTPD = PKG / "usr" / "sbin" / "smtpd"
DELIVERY_USER = "mail"

NOTES = {
    "hardened": "local recipients only, HELO required (always), 10 MB; no TLS (Debian 12 build: EVP lib)",
    "permissive": "open relay: every recipient accepted, foreign ones to a local catch-all; no TLS",
}

_CONF = """\
table vusers {{ postmaster@lab.test = {u}, user@lab.test = {u}, postmaster@mx.lab.test = {u}, user@mx.lab.test = {u} }}
smtp max-message-size {size}
listen on 127.0.0.1 port {port} hostname mx.lab.test
table rcpts {{ postmaster@lab.test, user@lab.test, postmaster@mx.lab.test, user@mx.lab.test }}
table domains {{ lab.test, mx.lab.test }}
action "local" maildir "{wd}/mail/%{{rcpt.user}}" virtual <vusers>
table catchall {{ "@" = {u} }}
action "catchall" maildir "{wd}/relayed" virtual <catchall>
match from any for domain <domains> rcpt-to <rcpts> action "local"
"""
_OPEN = 'match from any for any action "catchall"\n'

# Runs inside the new mount namespace as root, then becomes smtpd (same PID: the fixture can stop it).
_NS_SCRIPT = """\
set -e
mount --make-rprivate /
mount --bind "$WD/ns/spool" /var/spool
mount --bind "$WD/ns/run" /run
mount --bind "$WD/ns/lib" /var/lib
mount --bind "$PKG/usr/libexec" /usr/libexec
exec "$PKG/usr/sbin/smtpd" -d -v -f "$WD/smtpd.conf"
"""


class OpenSMTPDInstance(BedInstance):
    def _queued(self) -> bool:
        spool = self.workdir / "ns" / "spool" / "smtpd"
        for sub in ("incoming", "queue"):
            for _root, _dirs, files in os.walk(spool / sub):
                if files:
                    return True
        return False

    def settle(self, timeout: float = 10.0) -> None:
        wait_until(lambda: not self._queued(), timeout, f"{self.name}: queue not drained", self.log)


def opensmtpd_missing_reason() -> str | None:
    return unpacked_missing_reason("OpenSMTPD", SMTPD, "needs root (mount namespace, privilege separation)")


def start_opensmtpd(config: str = "hardened", ready_timeout: float = 20.0) -> OpenSMTPDInstance:
    t0 = time.monotonic()
    inst = new_instance(OpenSMTPDInstance, "opensmtpd", "OpenSMTPD", config, NOTES, "6.8.0p2")
    ensure_system_user("opensmtpd", "/var/lib/opensmtpd/empty")
    ensure_system_user("opensmtpq", "/var/lib/opensmtpd/empty")
    wd = inst.workdir
    for d in ("mail", "relayed"):
        (wd / d).mkdir()
        chown_tree(wd / d, DELIVERY_USER)
    for d in ("ns/spool/smtpd", "ns/run", "ns/lib/opensmtpd/empty"):
        (wd / d).mkdir(parents=True)
    (wd / "ns/spool/smtpd").chmod(0o711)
    conf = _CONF.format(u=DELIVERY_USER, wd=wd, port=inst.port, size="10M" if config == "hardened" else "35M")
    if config == "permissive":
        conf += _OPEN
    (wd / "smtpd.conf").write_text(conf)
    (wd / "smtpd.conf").chmod(0o644)
    env = dict(os.environ, WD=str(wd), PKG=str(PKG))
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", _NS_SCRIPT]
    return launch(inst, argv, ready_timeout, t0, env=env)


opensmtpd_hardened = bed_fixture("opensmtpd-hardened")
opensmtpd_permissive = bed_fixture("opensmtpd-permissive")
opensmtpd_factory = factory_fixture(
    "opensmtpd_factory", "OpenSMTPD", opensmtpd_missing_reason, start_opensmtpd
)
