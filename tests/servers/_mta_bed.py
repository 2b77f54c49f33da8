"""Mechanics shared by the multi-MTA test bed (tests/servers/mtabed.py has the API and the pitfalls).

Every instance is a real server process we start (Popen, own session) in a fresh /tmp/mtabed-* directory,
listening on free loopback ports, stopped by its PID (its process group) at teardown or interpreter exit.
Consequences are read from the server's own storage: maildirs its delivery agent wrote, its queue or its
log of deliveries; nothing ever leaves the host (mail for foreign domains goes to a local catch-all).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.servers._common import free_port

ROOT = Path(__file__).resolve().parents[2]
UNPACKED = ROOT / ".testbed" / "unpacked"
NPM = ROOT / ".testbed" / "npm"

MYHOSTNAME = "mx.lab.test"
LOCAL_DOMAIN = "lab.test"
LOCAL_USERS = ("postmaster", "user")


class BedStartError(RuntimeError):
    pass


def ensure_system_user(name: str, home: str = "/nonexistent") -> pwd.struct_passwd:
    """The unpacked packages' maintainer scripts never ran, so the users their binaries look up at start
    (Debian-exim, opensmtpd/opensmtpq) do not exist; create them (system users, no login, no home)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                home,
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                name,
            ],
            check=False,
            capture_output=True,
            timeout=30,
        )
        return pwd.getpwnam(name)


def read_maildir(maildir: Path) -> list[bytes]:
    """Messages in maildir/new and maildir/cur, oldest first (mtime, then name)."""
    files: list[Path] = []
    for sub in ("new", "cur"):
        d = maildir / sub
        if d.is_dir():
            files += [p for p in d.iterdir() if p.is_file()]
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [p.read_bytes() for p in files]


def greets(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while b"\n" not in data:
                chunk = s.recv(512)
                if not chunk:
                    break
                data += chunk
            ok = data.startswith(b"220")
            if ok:
                try:
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                except OSError:
                    pass
            return ok
    except OSError:
        return False


def wait_until(
    cond: Callable[[], bool], timeout: float, what: str, log: Callable[[], str] = lambda: ""
) -> None:
    """Poll `cond` with a growing interval (bounded); TimeoutError naming `what` with the server log tail."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (waited {timeout}s)\n--- log tail ---\n{log()[-3000:]}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


_LIVE: set[BedInstance] = set()


def _stop_live() -> None:
    for inst in list(_LIVE):
        inst.stop()


atexit.register(_stop_live)


@dataclass(eq=False)
class BedInstance:
    """One running server of the bed. Subclasses fill in start and the consequence readers."""

    server: str  # "exim", "opensmtpd", "chasquid", "haraka", "smtp-server", "postfix"
    config: str  # "hardened" or "permissive" (or a gate name)
    workdir: Path
    version: str = ""
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)  # smtpprobe role -> port (mx, submission, smtps)
    myhostname: str = MYHOSTNAME
    local_domain: str = LOCAL_DOMAIN
    local_rcpt: str = f"postmaster@{LOCAL_DOMAIN}"
    local_user: str = f"user@{LOCAL_DOMAIN}"
    tls: bool = False  # STARTTLS offered on the mx port
    cert_path: Path | None = None
    startup_seconds: float = 0.0
    procs: list[subprocess.Popen] = field(default_factory=list)
    notes: str = ""  # one line on what this configuration does, for docs/compatibility.md
    _stopped: bool = False

    @property
    def port(self) -> int:
        return self.ports["mx"]

    @property
    def name(self) -> str:
        return f"{self.server}-{self.config}"

    @property
    def mail_dir(self) -> Path:
        return self.workdir / "mail"

    @property
    def relay_dir(self) -> Path:
        return self.workdir / "relayed"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- consequences (subclasses override settle() and, if their storage differs, the readers) -------
    def settle(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until everything accepted so far is delivered (or queued for elsewhere)."""

    def delivered(self, rcpt: str | None = None, *, timeout: float = 10.0) -> list[bytes]:
        """Messages in the local mailboxes (postmaster@, user@ lab.test), oldest first, after settle()."""
        self.settle(timeout)
        if rcpt is not None:
            local, _, domain = rcpt.lower().partition("@")
            if domain not in (self.local_domain, self.myhostname) or local not in LOCAL_USERS:
                raise KeyError(f"{rcpt} is not a local mailbox of the test bed")
            return read_maildir(self.mail_dir / local)
        out: list[bytes] = []
        for local in LOCAL_USERS:
            out += read_maildir(self.mail_dir / local)
        return out

    def relayed(self, *, timeout: float = 10.0) -> list[bytes]:
        """Messages accepted for foreign domains (they land in a local catch-all, never leave the host)."""
        self.settle(timeout)
        return read_maildir(self.relay_dir)

    def smtpprobe_args(self) -> list[str]:
        """`smtpprobe run` target arguments for this instance."""
        args = ["--server", self.host]
        for role, port in self.ports.items():
            args += ["--port", f"{role}={port}"]
        return args + ["--local-rcpt", self.local_rcpt]

    # -- lifecycle --------------------------------------------------------------------------------
    def spawn(self, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        logf = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        try:
            proc = subprocess.Popen(
                argv,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
            self.procs.append(proc)
            with open(self.workdir / "pids", "a") as f:  # for reap_stale() after a killed test run
                f.write(f"{proc.pid}\n")
        finally:
            logf.close()
        _LIVE.add(self)

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            for p in self.procs:
                if p.poll() is not None:
                    raise BedStartError(
                        f"{self.name} exited with {p.returncode} at start:\n{self.log()[-3000:]}"
                    )
            return all(greets(self.host, port) for port in self.ports.values())

        try:
            wait_until(ready, timeout, f"{self.name} did not greet on {self.ports}", self.log)
        except TimeoutError as e:
            raise BedStartError(str(e)) from None

    def stop(self, remove: bool = True) -> None:
        """SIGTERM each process group we started (by its PID), SIGKILL after 5 s, remove the workdir."""
        if self._stopped:
            return
        self._stopped = True
        _LIVE.discard(self)
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
            # daemons' own children (delivery processes) live in the same process group
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X")


def reap_stale() -> list[Path]:
    """Stop and remove instances left by a test process that died without teardown (SIGKILL): every
    /tmp/mtabed-* whose owner.pid is gone. A recorded PID is killed (its process group) only if its
    command line still names that work directory, so a recycled PID is never touched."""
    reaped = []
    for wd in Path("/tmp").glob("mtabed-*"):
        try:
            owner = int((wd / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        try:
            pids = [int(x) for x in (wd / "pids").read_text().split()]
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(wd).encode() in cmdline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        shutil.rmtree(wd, ignore_errors=True)
        reaped.append(wd)
    return reaped


def new_workdir(server: str) -> Path:
    reap_stale()
    wd = Path(tempfile.mkdtemp(prefix=f"mtabed-{server}-", dir="/tmp"))
    wd.chmod(0o755)  # daemons that drop privileges must traverse it
    (wd / "owner.pid").write_text(str(os.getpid()))
    return wd


def ports(*roles: str) -> dict[str, int]:
    out: dict[str, int] = {}
    while len(set(out.values())) < len(roles):
        out = {role: free_port() for role in roles}
    return out


def chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for n in dirs + files:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
