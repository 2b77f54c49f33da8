"""A private, throw-away Postfix instance for the test suite (the manager behind tests/servers/postfix.py).

See tests/servers/postfix.py for the API and the pitfalls; this module holds the mechanics:
config rendering, certificate, start/stop, readiness, mailbox reading.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.servers._common import free_port
from tests.servers._mta_bed import (
    LIVE,
    LOCAL_DOMAIN,
    MYHOSTNAME,
    orphaned_workdirs,
    read_log,
    read_maildir,
    start_time,
)

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"

# Local recipients: address -> maildir under <workdir>/mail (trailing slash = maildir format).
LOCAL_MAILBOXES = {
    "postmaster@lab.test": "postmaster/",
    "user@lab.test": "user/",
    "postmaster@mx.lab.test": "postmaster/",
}
RELAYED_MAILDIR = "relayed/"  # everything for a non-local domain lands here; nothing leaves the host

# Named profiles: main.cf settings layered over BASE_MAIN (the per-instance overrides go on top).
PROFILES: dict[str, dict[str, str]] = {
    # Postfix 3.7 defaults: HELO optional, built-in defer_unauth_destination (454 4.7.1 on relay).
    "default": {},
    # conformance.md §4.6 "strict instance".
    "strict": {
        "smtpd_helo_required": "yes",
        "smtpd_helo_restrictions": (
            "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname,"
            " check_helo_access regexp:$config_directory/helo_access.regexp"
        ),
        "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
        "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
        "disable_vrfy_command": "no",
    },
    # conformance.md §4.6 "open instance": an open relay on purpose.
    "open": {
        "mynetworks": "0.0.0.0/0",
        "smtpd_helo_required": "no",
    },
}

HELO_ACCESS_REGEXP = "/^\\[.*\\]$/ REJECT IP-literal HELO not accepted here\n"


def _fmt(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def make_cert(directory: Path, hostname: str = MYHOSTNAME) -> tuple[Path, Path]:
    """A self-signed EC certificate for `hostname` (SAN also 127.0.0.1). Returns (cert, key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.servers._certs import self_signed, write_key_pair

    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    write_key_pair(self_signed(key, hostname, sans=sans, ca=True), key, cert_path, key_path)
    key_path.chmod(0o600)
    return cert_path, key_path


class PostfixStartError(RuntimeError):
    pass


@dataclass(eq=False)
class PostfixInstance:
    """One running private Postfix. Build it with start_postfix()."""

    workdir: Path
    profile: str
    main_cf: dict[str, str]
    host: str = "127.0.0.1"
    smtp_port: int = 0
    submission_port: int = 0
    smtps_port: int = 0
    myhostname: str = MYHOSTNAME
    local_domain: str = LOCAL_DOMAIN
    local_rcpt: str = "postmaster@lab.test"
    local_user: str = "user@lab.test"
    cert_path: Path = field(default=Path())
    key_path: Path = field(default=Path())
    startup_seconds: float = 0.0
    _stopped: bool = False

    # -- layout ---------------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.workdir / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.workdir / "spool"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def mail_dir(self) -> Path:
        return self.workdir / "mail"

    @property
    def maillog_path(self) -> Path:
        return self.workdir / "maillog"

    @property
    def ports(self) -> dict[str, int]:
        return {"smtp": self.smtp_port, "submission": self.submission_port, "smtps": self.smtps_port}

    def maillog(self) -> str:
        return read_log(self.maillog_path)

    # -- commands -------------------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        env = dict(os.environ, MAIL_CONFIG=str(self.config_dir))
        return subprocess.run(
            list(args), env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def postfix(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return self._run(POSTFIX, "-c", str(self.config_dir), *args, timeout=timeout)

    def postconf(self, *args: str) -> str:
        """`postconf -c <config_dir> ARGS` -> stdout (e.g. inst.postconf("-h", "mynetworks"))."""
        return self._run(POSTCONF, "-c", str(self.config_dir), *args).stdout

    def check_output(self) -> str:
        r = self.postfix("check")
        return (r.stdout + r.stderr).strip() or "(postfix check: no output)"

    def reconfigure(self, **overrides: object) -> None:
        """Change main.cf settings of the running instance and `postfix reload` (new connections see them)."""
        for k, v in overrides.items():
            self.main_cf[k] = _fmt(v)
        self._write_main_cf()
        r = self.postfix("reload")
        if r.returncode != 0:
            raise PostfixStartError(f"postfix reload failed: {r.stderr}\n{self.maillog()[-4000:]}")
        time.sleep(0.3)  # master re-reads; idle daemons restart lazily

    # -- mailboxes ------------------------------------------------------------------------------
    def queue_busy(self) -> bool:
        """True while any message is still in incoming/active/maildrop (not yet delivered or deferred)."""
        for sub in ("incoming", "active", "maildrop"):
            d = self.queue_dir / sub
            if d.is_dir():
                for _root, _dirs, files in os.walk(d):
                    if files:
                        return True
        return False

    def deferred_count(self) -> int:
        return sum(len(files) for _r, _d, files in os.walk(self.queue_dir / "deferred"))

    def settle(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until the queue has drained: everything accepted so far is delivered or deferred."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.queue_busy():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= 0.2:
                return
            time.sleep(0.05)
        raise TimeoutError(f"postfix queue did not drain in {timeout}s\n{self.maillog()[-3000:]}")

    def delivered(
        self, rcpt: str | None = None, *, settle: bool = True, timeout: float = 10.0
    ) -> list[bytes]:
        """Raw messages delivered to local mailboxes (as Postfix stored them: Return-Path, Delivered-To,
        Received headers added, lines LF-terminated), oldest first. `rcpt`: one local address only
        (postmaster@lab.test / user@lab.test); default: all local mailboxes. With settle=True (default)
        first waits for the queue to drain, so counts are final."""
        if settle:
            self.settle(timeout)
        if rcpt is not None:
            box = LOCAL_MAILBOXES.get(rcpt.lower())
            if box is None:
                raise KeyError(f"{rcpt} is not a local mailbox of the test bed ({sorted(LOCAL_MAILBOXES)})")
            return read_maildir(self.mail_dir / box)
        out: list[bytes] = []
        for box in sorted(set(LOCAL_MAILBOXES.values())):
            out += read_maildir(self.mail_dir / box)
        return out

    def relayed(self, *, settle: bool = True, timeout: float = 10.0) -> list[bytes]:
        """Messages accepted for non-local domains (relay; also bounces). They never leave the host: the
        default/relay transport is a catch-all maildir."""
        if settle:
            self.settle(timeout)
        return read_maildir(self.mail_dir / RELAYED_MAILDIR)

    def wait_delivered(self, count: int, rcpt: str | None = None, timeout: float = 10.0) -> list[bytes]:
        """Poll until at least `count` messages are delivered (bounded), then return them all."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.delivered(rcpt, settle=False)
            if len(msgs) >= count or time.monotonic() > deadline:
                return msgs
            time.sleep(0.05)

    # -- lifecycle ------------------------------------------------------------------------------
    def _write_main_cf(self) -> None:
        text = "# generated by tests/servers/postfix.py\n" + "".join(
            f"{k} = {v}\n" for k, v in self.main_cf.items()
        )
        _write_aged(self.config_dir / "main.cf", text)

    def _master_pid(self) -> int | None:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def our_pids(self) -> list[int]:
        """PIDs of processes belonging to this instance: master and its children run with
        MAIL_CONFIG=<our config_dir> in their environment."""
        marker = f"MAIL_CONFIG={self.config_dir}".encode()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                env = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if marker in env.split(b"\0"):
                pids.append(int(entry))
        return [p for p in pids if p != os.getpid()]

    def stop(self, remove: bool = True) -> None:
        """`postfix stop`, wait (bounded) until every process of this instance has exited (not just
        stopped answering), SIGKILL stragglers by PID, then remove the work directory (remove=False
        keeps it for a post-mortem)."""
        if self._stopped:
            return
        self._stopped = True
        LIVE.discard(self)
        procs = {pid: start_time(pid) for pid in self.our_pids()}
        try:
            self.postfix("stop", timeout=15)
        except subprocess.TimeoutExpired:
            pass

        def alive() -> list[int]:
            # same PID *and* same start time: never confuse a recycled PID with ours
            found = set(self.our_pids())
            found |= {p for p, t in procs.items() if t is not None and start_time(p) == t}
            return sorted(found)

        deadline = time.monotonic() + 5
        while alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_aged(path: Path, text: str) -> None:
    """Write a config file and backdate it: Postfix refuses to trust a file modified within the last
    second and re-reads it (0.3 s sleeps, ~1.5 s per command) until it is old enough."""
    path.write_text(text)
    old = time.time() - 10
    os.utime(path, (old, old))


def _master_cf(inst: PostfixInstance) -> str:
    h = inst.host
    # No chroot anywhere (chroot would need copies of /etc files inside the queue directory).
    return f"""\
# generated by tests/servers/postfix.py: loopback-only listeners, no chroot
{h}:{inst.smtp_port} inet n - n - - smtpd
{h}:{inst.submission_port} inet n - n - - smtpd
  -o syslog_name=postfix-bed-{inst.smtp_port}/submission
  -o smtpd_tls_security_level=encrypt
{h}:{inst.smtps_port} inet n - n - - smtpd
  -o syslog_name=postfix-bed-{inst.smtp_port}/smtps
  -o smtpd_tls_wrappermode=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
relaybox  unix  -       n       n       -       -       virtual
  -o virtual_mailbox_maps=static:{RELAYED_MAILDIR}
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _base_main_cf(inst: PostfixInstance) -> dict[str, str]:
    pw = pwd.getpwnam("postfix")
    maps = ", ".join(f"{addr}={box}" for addr, box in LOCAL_MAILBOXES.items())
    return {
        "compatibility_level": "3.6",
        "config_directory": str(inst.config_dir),
        "queue_directory": str(inst.queue_dir),
        "data_directory": str(inst.data_dir),
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "maillog_file": str(inst.maillog_path),
        "maillog_file_prefixes": str(inst.workdir),
        "syslog_name": f"postfix-bed-{inst.smtp_port}",
        "myhostname": MYHOSTNAME,
        "mydomain": LOCAL_DOMAIN,
        "myorigin": "$mydomain",
        "mydestination": "$mydomain, $myhostname",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        # 127.0.0.1 is an OUTSIDE client: Postfix exempts $mynetworks from most restrictions.
        "mynetworks": "127.0.0.2/32",
        "smtpd_banner": "$myhostname ESMTP $mail_name (Debian/GNU)",
        "biff": "no",
        "append_dot_mydomain": "no",
        "alias_maps": "",
        "alias_database": "",
        # Local domain lab.test: smtpd checks local_recipient_maps, delivery is virtual(8) into maildirs.
        "local_recipient_maps": "$virtual_mailbox_maps",
        "local_transport": "virtual",
        "virtual_mailbox_maps": f"inline:{{ {maps} }}",
        "virtual_mailbox_base": str(inst.mail_dir),
        "virtual_uid_maps": f"static:{pw.pw_uid}",
        "virtual_gid_maps": f"static:{pw.pw_gid}",
        "virtual_minimum_uid": "1",
        # Nothing ever leaves this host: non-local mail goes to a catch-all maildir.
        "default_transport": "relaybox",
        "relay_transport": "relaybox",
        "smtp_dns_support_level": "disabled",
        "smtpd_tls_cert_file": str(inst.cert_path),
        "smtpd_tls_key_file": str(inst.key_path),
        "smtpd_tls_security_level": "may",
        "smtpd_tls_loglevel": "1",
        "smtpd_tls_received_header": "yes",
        "smtp_tls_security_level": "none",
        # quick turnaround for tests
        "queue_run_delay": "5s",
        "minimal_backoff_time": "5s",
        "maximal_backoff_time": "10s",
        "daemon_timeout": "600s",
        "ipc_idle": "5s",
    }


def _make_dirs(inst: PostfixInstance) -> None:
    pw = pwd.getpwnam("postfix")
    postdrop = grp.getgrnam("postdrop").gr_gid
    inst.workdir.chmod(0o755)  # postfix processes must traverse it
    for d in (inst.config_dir, inst.queue_dir, inst.queue_dir / "pid"):
        d.mkdir(mode=0o755, exist_ok=True)
    for sub in (
        "active",
        "bounce",
        "corrupt",
        "defer",
        "deferred",
        "flush",
        "hold",
        "incoming",
        "private",
        "saved",
        "trace",
    ):
        d = inst.queue_dir / sub
        d.mkdir(mode=0o700, exist_ok=True)
        os.chown(d, pw.pw_uid, -1)
    for sub, mode in (("maildrop", 0o730), ("public", 0o710)):
        d = inst.queue_dir / sub
        d.mkdir(exist_ok=True)
        os.chown(d, pw.pw_uid, postdrop)
        d.chmod(mode)
    for d in (inst.data_dir, inst.mail_dir):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chown(d, pw.pw_uid, pw.pw_gid)


PROBE_SOURCE = "127.0.0.2"  # readiness probes come from here: anvil counts per client address


def _probe_connect(host: str, port: int) -> socket.socket:
    """Connect from 127.0.0.2 so readiness probes do not count against 127.0.0.1's anvil connection
    count/rate limits (fallback: the default source address)."""
    try:
        return socket.create_connection((host, port), timeout=2, source_address=(PROBE_SOURCE, 0))
    except OSError as e:
        if isinstance(e, ConnectionRefusedError):
            raise
        return socket.create_connection((host, port), timeout=2)


def _greets(host: str, port: int, tls: bool, cert: Path) -> bool:
    try:
        with _probe_connect(host, port) as raw:
            raw.settimeout(3)
            if tls:
                ctx = ssl.create_default_context(cafile=str(cert))
                ctx.check_hostname = False
                with ctx.wrap_socket(raw, server_hostname=MYHOSTNAME) as s:
                    data = s.recv(512)
            else:
                data = raw.recv(512)
            return data.startswith(b"220")
    except OSError:
        return False


def reap_stale() -> list[Path]:
    """Stop and remove instances left behind by a test process that died without teardown (killed
    pytest): /tmp/pfbed-* whose owner.pid process no longer exists. Returns the directories reaped."""
    reaped = orphaned_workdirs("pfbed-*")
    for wd in reaped:
        PostfixInstance(workdir=wd, profile="?", main_cf={}).stop()
    return reaped


def start_postfix(
    profile: str = "default",
    overrides: dict[str, object] | None = None,
    *,
    workdir: Path | None = None,
    ready_timeout: float = 20.0,
    attempts: int = 3,
) -> PostfixInstance:
    """Start a private Postfix instance; see tests/servers/postfix.py for the full description."""
    if profile not in PROFILES:
        raise ValueError(f"unknown Postfix profile {profile!r}; known: {sorted(PROFILES)}")
    last_error = ""
    for attempt in range(attempts):
        t0 = time.monotonic()
        wd = Path(tempfile.mkdtemp(prefix="pfbed-", dir="/tmp")) if workdir is None else Path(workdir)
        wd.mkdir(parents=True, exist_ok=True)
        if workdir is None and attempt == 0:
            reap_stale()
        inst = PostfixInstance(workdir=wd, profile=profile, main_cf={})
        inst.smtp_port, inst.submission_port, inst.smtps_port = _three_ports()
        _make_dirs(inst)
        inst.cert_path, inst.key_path = make_cert(inst.config_dir)
        _write_aged(inst.config_dir / "helo_access.regexp", HELO_ACCESS_REGEXP)
        inst.main_cf = _base_main_cf(inst)
        inst.main_cf.update(PROFILES[profile])
        inst.main_cf.update({k: _fmt(v) for k, v in (overrides or {}).items()})
        inst._write_main_cf()
        _write_aged(inst.config_dir / "master.cf", _master_cf(inst))
        # Skip postfix-script's slow integrity checks (find over the install); we made the layout.
        (inst.queue_dir / "quick-start").touch()
        (wd / "owner.pid").write_text(str(os.getpid()))
        r = inst.postfix("start")
        if r.returncode == 0 and _wait_ready(inst, ready_timeout):
            inst.startup_seconds = time.monotonic() - t0
            LIVE.add(inst)
            return inst
        log = inst.maillog()
        last_error = (
            f"postfix start (attempt {attempt + 1}, profile {profile!r}) in {wd}: rc={r.returncode}\n"
            f"stdout/stderr: {r.stdout}{r.stderr}\n--- postfix check ---\n{inst.check_output()}\n"
            f"--- maillog problems ---\n{_problems(log)}\n--- maillog (tail) ---\n{log[-3000:]}"
        )
        inst.stop(remove=workdir is None)
        if "Address already in use" not in log + r.stderr:
            break  # not a port race: retrying will not help
    raise PostfixStartError(last_error)


def _three_ports() -> tuple[int, int, int]:
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    a, b, c = ports
    return a, b, c


_HOPELESS = ("fatal:", "panic:", "TLS context initialization failed", "bad command startup")


def _problems(log: str, limit: int = 40) -> str:
    """The first distinct warning/fatal lines of a maillog (the tail is often just retries)."""
    seen: list[str] = []
    for line in log.splitlines():
        for tag in ("warning:", "fatal:", "panic:", "error:"):
            if tag in line:
                msg = line[line.index(tag) :]
                if msg not in seen:
                    seen.append(msg)
    return "\n".join(seen[:limit]) or "(none)"


def _wait_ready(inst: PostfixInstance, timeout: float) -> bool:
    """All three ports greet (TLS first on smtps). Gives up early when the master is gone or a daemon
    logged a fatal error (bad main.cf value, unreadable cert...): the caller reports the maillog."""
    start = time.monotonic()
    pending = {"smtp": False, "submission": False, "smtps": True}
    while pending and time.monotonic() - start < timeout:
        for name, tls in list(pending.items()):
            if _greets(inst.host, inst.ports[name], tls, inst.cert_path):
                del pending[name]
        if pending:
            if any(bad in inst.maillog() for bad in _HOPELESS):
                return False
            pid = inst._master_pid()
            if time.monotonic() - start > 3 and (pid is None or start_time(pid) is None):
                return False  # master never came up or died
            time.sleep(min(0.05 * 2 ** (time.monotonic() - start), 0.5))
    return not pending
