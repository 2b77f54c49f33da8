"""A private Dovecot 2.3 instance (pytest plugin): its LMTP server (TCP and a UNIX socket) and its SASL server
(for Postfix's `smtpd_sasl_type = dovecot`), from a config of our own; the system's Dovecot is never touched.

``dovecot`` (session fixture) -> DovecotInstance:
    ``lmtp_port``, ``lmtp_socket`` (path), ``auth_port`` (Postfix: ``smtpd_sasl_path = inet:127.0.0.1:PORT``),
    ``users`` {name: password} (alice, bob; LMTP recipients alice@lab.test and bob@lab.test),
    ``tokens`` {token: user}: OAuth 2.0 access tokens that the introspection endpoint calls active,
    ``delivered(user) -> list[bytes]`` (the messages in the user's maildir), ``log()``.

SASL mechanisms offered: PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 (passwd-file passdb) and XOAUTH2
OAUTHBEARER (oauth2 passdb). Dovecot parses and checks the XOAUTH2/OAUTHBEARER messages itself and asks an
RFC 7662 token-introspection endpoint whether the token is active and whose it is; that endpoint is a small
HTTP server in this process (http.server on loopback), standing in for the identity provider that cannot
run here. Only the provider is ours: the SASL server is Dovecot's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.servers._common import free_port, unavailable
from tests.servers._mta_bed import read_maildir

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USERS = {"alice": "wonderland", "bob": "builder"}
TOKENS = {"ya29.alice-token-0123456789": "alice"}

CONFIG = """\
base_dir = {w}/run
state_dir = {w}/state
log_path = {w}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256 xoauth2 oauthbearer
auth_verbose = yes
mail_location = maildir:{w}/mail/%n
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
passdb {{
  driver = passwd-file
  mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
  args = scheme=PLAIN username_format=%n {w}/passwd
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {w}/oauth2.conf
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {w}/passwd
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
  unix_listener {w}/lmtp.sock {{
    mode = 0666
  }}
}}
service auth {{
  inet_listener {{
    address = 127.0.0.1
    port = {auth_port}
  }}
}}
"""

OAUTH2 = """\
introspection_mode = post
introspection_url = http://127.0.0.1:{port}/introspect
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
"""


class _Introspection(BaseHTTPRequestHandler):
    """RFC 7662 §2: POST token=... -> {"active": true, "username": ...} or {"active": false}."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        token = parse_qs(self.rfile.read(length).decode()).get("token", [""])[0]
        user = TOKENS.get(token)
        body = json.dumps({"active": "true", "username": user} if user else {"active": "false"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class DovecotInstance:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.lmtp_port, self.auth_port = free_port(), free_port()
        self.lmtp_socket = str(workdir / "lmtp.sock")
        self.users, self.tokens = USERS, TOKENS
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Introspection)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        w = self.workdir
        for sub, mode in (("run", 0o755), ("state", 0o755), ("mail", 0o1777)):
            (w / sub).mkdir()
            (w / sub).chmod(mode)
        (w / "passwd").write_text(
            "".join(f"{u}:{{PLAIN}}{p}:65534:65534::{w}/mail/{u}::\n" for u, p in USERS.items())
        )
        (w / "oauth2.conf").write_text(OAUTH2.format(port=self._http.server_address[1]))
        (w / "dovecot.conf").write_text(
            CONFIG.format(w=w, lmtp_port=self.lmtp_port, auth_port=self.auth_port)
        )
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(w / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self._process.stderr.read().decode()}\n{self.log()}")  # type: ignore[union-attr]
            if all(_listening(p) for p in (self.lmtp_port, self.auth_port)) and os.path.exists(
                self.lmtp_socket
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen within 15 s:\n{self.log()}")

    def delivered(self, user: str) -> list[bytes]:
        """The user's messages, oldest first (by mtime: Dovecot's file names do not sort by time)."""
        return read_maildir(self.workdir / "mail" / user)

    def log(self) -> str:
        path = self.workdir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=5)
        self._http.shutdown()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def dovecot_missing_reason() -> str | None:
    if os.geteuid() != 0:
        return "a private Dovecot needs root (it drops privileges to the dovecot users)"
    if not os.path.exists(DOVECOT) or not os.path.exists("/usr/lib/dovecot/lmtp"):
        return "dovecot-core and dovecot-lmtpd are not installed (run scripts/install-system-deps as root)"
    return None


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotInstance]:
    reason = dovecot_missing_reason()
    if reason:
        unavailable(reason)
    workdir = Path(
        tempfile.mkdtemp(prefix="dovecot-", dir="/tmp")
    )  # short paths; traversable by dovecot's users
    workdir.chmod(0o755)
    instance = DovecotInstance(workdir)
    try:
        instance.start()
    except RuntimeError as exc:
        instance.stop()
        pytest.fail(f"Dovecot test bed did not start: {exc}", pytrace=False)
    yield instance
    instance.stop()
