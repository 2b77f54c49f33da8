"""Real chasquid 1.11 (Debian 12 package, unpacked, not installed) for the multi-MTA bed (pytest plugin).

chasquid 1.11 is vulnerable to SMTP smuggling (CVE-2023-52354): it takes ``\\n.\\n`` as end of data, so
a second message hidden after it is queued and delivered when the bytes after ``\\n.\\n`` reach it in a
later write. The bed makes that observable: the smuggled message lands in the mailbox (``delivered()``).

Fixtures
--------
``chasquid_hardened``   (session) -- mx port + submission port (submission demands AUTH before MAIL:
    ``550 5.7.9 Mail to submission port must be authenticated``: the AUTH-first gate case), STARTTLS on
    both, 10 MB data limit.
``chasquid_as_shipped`` (session) -- Debian's chasquid.conf defaults (50 MB), mx port only. chasquid
    cannot be made an open relay: it relays only for authenticated users (``503 5.7.1 Relay not
    allowed``), so there is no "permissive" configuration; this one is the as-shipped one.
``chasquid_factory``    (function) -- ``chasquid_factory("hardened" | "as-shipped")``, stopped after the test.

API (``start_chasquid(config) -> BedInstance``)
    ``host``, ``ports`` ({"mx": p} or {"mx": p, "submission": q}), ``local_rcpt``, ``local_user``,
    ``tls`` (True), ``cert_path``, ``version`` ("1.11"), ``startup_seconds``, ``log()`` (the mail log
    chasquid writes: one line per queued / sent / rejected message, then its debug log),
    ``delivered(rcpt=None)``: maildirs written by our delivery agent script (chasquid runs
    ``deliver.sh %to_user%`` per local recipient), ``relayed()``: chasquid's queue items that have a foreign
    recipient (its own storage; outgoing SMTP goes to a closed loopback port, so nothing leaves the host), ``settle()``: every message id chasquid logged as ``queued`` is ``all done``.
    Users postmaster and user in lab.test, with random passwords nobody knows (chasquid checks recipients
    against its user database).

Pitfalls found building this (chasquid 1.11-2+b2)
    * chasquid-util takes ``-C=DIR`` (``-C DIR`` is "Unknown argument").
    * Without a users file for the domain every local recipient is ``550 5.1.1 ... user does not exist``.
    * Local delivery is asynchronous, from the queue, after ``250 2.0.0 You have an eerie feeling...``:
      read mailboxes with ``delivered()``, which waits for the mail log's ``all done``.
    * Debian's package ships a hooks/post-data script (spam, greylisting when installed): our config dir
      has no hooks, so nothing outside the bed runs.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time

from tests.servers._common import free_port
from tests.servers._mta_bed import (
    UNPACKED,
    BedInstance,
    BedStartError,
    bed_fixture,
    factory_fixture,
    launch,
    new_instance,
    unpacked_missing_reason,
    wait_until,
)
from tests.servers._postfix_bed import make_cert

BIN = UNPACKED / "chasquid" / "usr" / "bin"
CHASQUID = BIN / "chasquid"

DELIVER_SH = """\
#!/bin/sh
# chasquid's delivery agent in the bed: $1 = local user; stdin -> <workdir>/mail/<user>/new (maildir)
d="$(dirname "$0")/mail/$1"; mkdir -p "$d/tmp" "$d/new" "$d/cur"
f="$(date +%s.%N).$$"
cat > "$d/tmp/$f" && mv "$d/tmp/$f" "$d/new/$f"
"""

NOTES = {
    "hardened": "relay only when authenticated; submission port demands AUTH; STARTTLS; 10 MB",
    "as-shipped": "Debian defaults (relay only when authenticated, STARTTLS, 50 MB); cannot be an open relay",
}


class ChasquidInstance(BedInstance):
    def mail_log(self) -> str:
        try:
            return (self.workdir / "mail.log").read_text(errors="replace")
        except OSError:
            return ""

    def log(self) -> str:
        return self.mail_log() + "\n" + super().log()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until chasquid logged a result for every local recipient of every queued message
        (``<id> from=.. to=<rcpt> sent`` / ``failed``, or ``<id> ... all done``); foreign recipients stay
        queued (retries) and are not waited for."""

        def done() -> bool:
            text = self.mail_log()
            for m in re.finditer(r" (\S+) from=\S* queued ip=\S+ to=\[(.*)\]", text):
                mid, rcpts = m.group(1), m.group(2).split()
                if f" {mid} from=" in text and re.search(rf" {re.escape(mid)} from=\S* all done", text):
                    continue
                for r in rcpts:
                    if r.lower().endswith(("@lab.test", "@mx.lab.test")) and not re.search(
                        rf" {re.escape(mid)} from=\S* to={re.escape(r)} (sent|failed)", text
                    ):
                        return False
            return True

        wait_until(done, timeout, f"{self.name}: local deliveries not done", self.log)

    def relayed(self, *, timeout: float = 10.0) -> list[bytes]:
        """Queue items (``<data_dir>/queue/m:*``, text protobuf with the message data) that have a
        recipient outside lab.test. No settle(): mail for a foreign domain stays queued (retries); chasquid
        writes the item before its 250 reply, so it is there when the client has its answer."""
        out = []
        for item in sorted((self.workdir / "data" / "queue").glob("*")):
            try:
                text = item.read_bytes()
            except OSError:
                continue  # delivered and removed meanwhile
            addrs = re.findall(rb'address:\s*"([^"]*)"', text)
            if any(not a.lower().endswith((b"@lab.test", b"@mx.lab.test")) for a in addrs):
                out.append(text)
        return out


def chasquid_missing_reason() -> str | None:
    return unpacked_missing_reason("chasquid", CHASQUID, "runs as root (like the other unpacked MTAs)")


def start_chasquid(config: str = "hardened", ready_timeout: float = 20.0) -> ChasquidInstance:
    t0 = time.monotonic()
    roles = ("mx", "submission") if config == "hardened" else ("mx",)
    inst = new_instance(ChasquidInstance, "chasquid", "chasquid", config, NOTES, "1.11", roles)
    wd = inst.workdir
    inst.tls = True
    conf = wd / "conf"
    (conf / "certs" / "mx.lab.test").mkdir(parents=True)
    (wd / "data").mkdir()
    (wd / "mail").mkdir()
    cert, key = make_cert(wd)
    inst.cert_path = cert
    shutil.copy(cert, conf / "certs" / "mx.lab.test" / "fullchain.pem")
    shutil.copy(key, conf / "certs" / "mx.lab.test" / "privkey.pem")
    (wd / "deliver.sh").write_text(DELIVER_SH)
    (wd / "deliver.sh").chmod(0o755)
    lines = [
        'hostname: "mx.lab.test"',
        f'smtp_address: "127.0.0.1:{inst.ports["mx"]}"',
        f'data_dir: "{wd}/data"',
        f'mail_delivery_agent_bin: "{wd}/deliver.sh"',
        'mail_delivery_agent_args: "%to_user%"',
        f'mail_log_path: "{wd}/mail.log"',
    ]
    if "submission" in inst.ports:
        lines.append(f'submission_address: "127.0.0.1:{inst.ports["submission"]}"')
    else:
        lines.append('submission_address: ""')
    if config == "hardened":
        lines.append("max_data_size_mb: 10")
    (conf / "chasquid.conf").write_text("\n".join(lines) + "\n")
    for user in ("postmaster", "user"):
        r = subprocess.run(
            [
                str(BIN / "chasquid-util"),
                f"-C={conf}",
                "user-add",
                f"{user}@lab.test",
                f"--password={secrets.token_urlsafe(16)}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if r.returncode != 0:
            raise BedStartError(f"chasquid-util user-add failed: {r.stdout}{r.stderr}")
    argv = [
        str(CHASQUID),
        "-config_dir",
        str(conf),
        "-alsologtostderr",
        # belt and braces: outgoing SMTP (only ever for authenticated users) goes to a closed local port
        f"-testing__outgoing_smtp_port={free_port()}",
    ]
    return launch(inst, argv, ready_timeout, t0)


chasquid_hardened = bed_fixture("chasquid-hardened")
chasquid_as_shipped = bed_fixture("chasquid-as-shipped")
chasquid_factory = factory_fixture("chasquid_factory", "chasquid", chasquid_missing_reason, start_chasquid)
