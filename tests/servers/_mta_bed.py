"""Mechanics shared by the multi-MTA test bed (tests/servers/mtabed.py has the API and the pitfalls).

Every instance is a real server process we start (Popen, own session) in a fresh /tmp/mtabed-* directory,
listening on free loopback ports, stopped by its PID (its process group) at teardown or interpreter exit.
Consequences are read from the server's own storage: maildirs its delivery agent wrote, its queue or its
log of deliveries; nothing ever leaves the host (mail for foreign domains goes to a local catch-all).
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Self, TypeVar

from tests.servers._common import free_port, unavailable

ROOT = Path(__file__).resolve().parents[2]
UNPACKED = ROOT / ".testbed" / "unpacked"
NPM = ROOT / ".testbed" / "npm"

MYHOSTNAME = "mx.lab.test"  # the name every server of the bed (Postfix too) greets with
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


class _Stoppable(Protocol):
    def stop(self) -> None: ...


# every instance of the bed (the private Postfixes too), stopped at interpreter exit if a run is cut short
LIVE: set[_Stoppable] = set()


def _stop_live() -> None:
    for inst in list(LIVE):
        inst.stop()


atexit.register(_stop_live)


def read_log(path: Path) -> str:
    """A server's log as text ("" while it does not exist yet)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def start_time(pid: int) -> str | None:
    """Process start time (clock ticks since boot) from /proc/PID/stat, or None if gone or a zombie
    (exited; PID 1 of this VM reaps reparented zombies only slowly). The pair (PID, start time) names a
    process for good: a recycled PID has another start time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


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
        return read_log(self.log_path)

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
        LIVE.add(self)

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
        LIVE.discard(self)
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


def orphaned_workdirs(pattern: str) -> list[Path]:
    """Work directories /tmp/<pattern> whose owner (the PID in their owner.pid) is gone: left by a test
    process that died without teardown. One still being created (no owner.pid yet) is not listed."""
    out = []
    for wd in Path("/tmp").glob(pattern):
        try:
            owner = int((wd / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if start_time(owner) is None:
            out.append(wd)
    return out


def reap_stale() -> list[Path]:
    """Stop and remove instances left by a test process that died without teardown (SIGKILL): every
    /tmp/mtabed-* whose owner.pid is gone. A recorded PID is killed (its process group) only if its
    command line still names that work directory, so a recycled PID is never touched."""
    reaped = orphaned_workdirs("mtabed-*")
    for wd in reaped:
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


# -- what the server modules (exim.py, opensmtpd.py, chasquid.py, haraka.py, smtp_server_js.py) share ---------
InstT = TypeVar("InstT", bound=BedInstance)


def unpacked_missing_reason(label: str, binary: Path, why_root: str) -> str | None:
    """Why a server run from an unpacked Debian package cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return f"the {label} test bed {why_root}"
    if not binary.exists():
        return f"{label} not unpacked at {binary} (run scripts/install-system-deps as root)"
    return None


def npm_missing_reason(label: str, package: Path) -> str | None:
    """Why a node server installed from npm cannot run here (None: it can)."""
    if not shutil.which("node"):
        return f"node is not installed ({label} needs it)"
    if not package.exists():
        return f"{label} not installed at {package} (run scripts/install-system-deps)"
    return None


def npm_version(package: Path) -> str:
    """The version in an npm package's package.json ("?" if unreadable)."""
    try:
        return json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def new_instance(
    cls: type[InstT],
    server: str,
    label: str,
    config: str,
    notes: dict[str, str],
    version: str,
    roles: tuple[str, ...] = ("mx",),
) -> InstT:
    """The head of every start_<server>(): an instance (not started yet) of a config known to `notes`
    (ValueError otherwise) in a fresh /tmp/mtabed-<server>-* directory, with free ports for `roles`."""
    if config not in notes:
        raise ValueError(f"unknown {label} config {config!r}")
    wd = new_workdir(server.replace("-", ""))
    inst = cls(server=server, config=config, workdir=wd, version=version, ports=ports(*roles))
    inst.notes = notes[config]
    return inst


def launch(
    inst: InstT,
    argv: list[str],
    ready_timeout: float,
    t0: float,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    ready_log: str | None = None,
) -> InstT:
    """The tail of every start_<server>(): spawn `argv`, wait (bounded) until every port greets and, with
    `ready_log`, until the log shows that text; set startup_seconds (since `t0`). A server that does not
    come up is stopped with its work directory kept for a post-mortem, and BedStartError raised."""
    inst.spawn(argv, env=env, cwd=cwd)
    try:
        inst.wait_ready(ready_timeout)
        if ready_log is not None:
            wait_until(
                lambda: ready_log in inst.log(), ready_timeout, f"{inst.name}: {ready_log!r}", inst.log
            )
    except (BedStartError, TimeoutError) as e:
        inst.stop(remove=False)
        raise BedStartError(str(e)) from None
    inst.startup_seconds = time.monotonic() - t0
    return inst


def start_or_fail(
    label: str, missing_reason: Callable[[], str | None], start: Callable[[str], InstT], config: str
) -> InstT:
    """Start one instance for a test: a server that cannot run here is unavailable() (skip locally, fail
    under CI=true); one that does not start fails the test with its log tail."""
    import pytest  # here, not at the top: benchmarks use the instance managers without pytest

    reason = missing_reason()
    if reason:
        unavailable(reason)
    try:
        return start(config)
    except BedStartError as e:
        pytest.fail(f"{label} test bed did not start:\n{e}", pytrace=False)


def bed_fixture(name: str) -> Callable[..., BedInstance]:
    """The session fixture of bed instance `name` ("exim-hardened" -> fixture ``exim_hardened``): the
    instance of the mtabed registry (mtabed.py), shared with ``mtabed.get(name)``. Assign it in a plugin
    module (modules named _* are not plugins): ``exim_hardened = bed_fixture("exim-hardened")``."""
    import pytest

    @pytest.fixture(scope="session", name=name.replace("-", "_"))
    def instance(mtabed) -> BedInstance:  # the Bed registry (mtabed.py)
        return mtabed.get(name)  # type: ignore[no-any-return]

    return instance


def factory_fixture(
    name: str, label: str, missing_reason: Callable[[], str | None], start: Callable[[str], BedInstance]
) -> Callable[..., Iterator[Callable[[str], BedInstance]]]:
    """The function-scoped fixture `name`: ``<name>(config="hardened")`` starts a private instance (see
    start_or_fail), every one stopped at the end of the test."""
    import pytest

    @pytest.fixture(name=name)
    def factory() -> Iterator[Callable[[str], BedInstance]]:
        started: list[BedInstance] = []

        def make(config: str = "hardened") -> BedInstance:
            inst = start_or_fail(label, missing_reason, start, config)
            started.append(inst)
            return inst

        yield make
        for inst in started:
            inst.stop()

    return factory
