"""Real Haraka 3.3 (npm package Haraka, under .testbed/npm) for the multi-MTA bed (pytest plugin).

Each instance is ``haraka -c <workdir>/haraka`` (one process, ``nodes=0``) with a config directory of ours:
stock plugins (tls, helo.checks, rcpt_to.in_host_list) plus ``bed_queue``, a queue plugin of the bed that
stores each accepted message in a maildir (local recipients) or in the catch-all ``relayed`` maildir (every
foreign recipient) before Haraka answers 250: nothing ever leaves the host, and no wait is needed.

Fixtures
--------
``haraka_hardened``   (session) -- relay refused (Haraka core: ``550 I cannot deliver mail for <x>``),
    unknown local users ``550 5.1.1 User unknown``, HELO/EHLO required before MAIL (Haraka core: ``503 Use
    EHLO/HELO before MAIL``), helo.checks rejecting invalid names and bare IPs (its DNS checks off:
    nothing may leave the host), STARTTLS offered (tls plugin, our self-signed cert), 10 MB.
``haraka_permissive`` (session) -- Haraka's default plugin list without its DNS sender check, made an open
    relay the way Haraka's relay plugin does it: ``connection.relaying = true`` for every client; no TLS.
``haraka_factory``    (function) -- ``haraka_factory("hardened" | "permissive")``.

API (``start_haraka(config) -> BedInstance``): ``host``, ``ports`` ({"mx": p}), ``local_rcpt``,
``local_user``, ``tls``, ``cert_path``, ``version`` (from Haraka's package.json), ``startup_seconds``,
``log()``, ``delivered(rcpt=None)``, ``relayed()``, ``stop()``.

Pitfalls found building this (Haraka 3.3.4, node 20)
    * Haraka's default plugin list has ``mail_from.is_resolvable`` (DNS lookups of every sender domain) and
      ``queue/smtp_forward`` (to localhost:2555): neither belongs on a loopback bed; we replace them.
    * helo.checks skips private/loopback clients by default (``[skip] private_ip``): turned off, or no HELO
      check would ever run here.
    * Relayed transactions go to ``hook_queue_outbound``, not ``hook_queue``: the bed plugin registers both.
    * An .ini file of ours replaces the stock one entirely (a connection.ini with only ``[max]`` loses
      ``[message] helo`` and every connection dies in connect_respond): we copy the stock config directory
      first and edit lines in it.
    * Haraka core looks up every client's PTR with the system resolver before the greeting; the bed plugin
      answers ``lookup_rdns`` itself ("localhost").
    * The port opens before the public-suffix list is loaded; until then helo.checks calls every name
      invalid (``550 HELO host name invalid`` for client.example.org). Readiness waits for Haraka's
      "loaded Public Suffixes" log line.
    * Without config/dhparams.pem the tls plugin runs ``openssl dhparam 2048`` in the background at every
      start; we copy parameters made once per checkout (``-dsaparam``: quick) under .testbed/npm/.
    * Start-up is ~1-2 s (node loads every plugin): the readiness wait polls the port, bounded at 30 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.servers._mta_bed import (
    NPM,
    BedInstance,
    bed_fixture,
    factory_fixture,
    launch,
    new_instance,
    npm_missing_reason,
    npm_version,
)
from tests.servers._postfix_bed import make_cert

HARAKA_PKG = NPM / "node_modules" / "Haraka"
HARAKA_BIN = NPM / "node_modules" / ".bin" / "haraka"

NOTES = {
    "hardened": "relay refused, unknown users refused, HELO required + helo.checks, STARTTLS, 10 MB",
    "permissive": "open relay (relaying=true for every client, as haraka-plugin-relay's all=true), no TLS",
}

BED_PLUGIN = r"""
// The bed's queue plugin: stores each accepted message where the test bed reads it (see haraka.py).
const fs = require('node:fs')
const path = require('node:path')
const LOCAL_DOMAINS = ['lab.test', 'mx.lab.test']
const LOCAL_USERS = ['postmaster', 'user']

exports.register = function () {
    this.dir = process.env.BED_DIR
    this.open = process.env.BED_OPEN === '1'
    this.register_hook('queue', 'store')
    this.register_hook('queue_outbound', 'store')
}

// Haraka core looks up the client's PTR with the system resolver; answer it here (nothing leaves the host).
exports.hook_lookup_rdns = function (next, connection) {
    next(OK, 'localhost')
}

exports.hook_connect = function (next, connection) {
    if (this.open) connection.relaying = true
    next()
}

exports.hook_rcpt = function (next, connection, params) {
    const rcpt = params[0]
    const domain = (rcpt.host || '').toLowerCase()
    if (LOCAL_DOMAINS.includes(domain) && !LOCAL_USERS.includes((rcpt.user || '').toLowerCase())) {
        return next(DENY, 'User unknown')
    }
    next()  // the stock plugins (rcpt_to.in_host_list) and Haraka core decide the rest
}

function deliver(dir, data) {
    for (const sub of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(dir, sub), { recursive: true })
    const name = `${Date.now()}.${process.pid}.${Math.random().toString(36).slice(2)}`
    fs.writeFileSync(path.join(dir, 'tmp', name), data)
    fs.renameSync(path.join(dir, 'tmp', name), path.join(dir, 'new', name))
}

exports.store = function (next, connection) {
    const txn = connection.transaction
    txn.message_stream.get_data((data) => {
        for (const rcpt of txn.rcpt_to) {
            const domain = (rcpt.host || '').toLowerCase()
            const user = (rcpt.user || '').toLowerCase()
            if (LOCAL_DOMAINS.includes(domain) && LOCAL_USERS.includes(user)) {
                deliver(path.join(this.dir, 'mail', user), data)
            } else {
                deliver(path.join(this.dir, 'relayed'), Buffer.concat([Buffer.from(`Delivered-To: ${rcpt.user}@${rcpt.host}\r\n`), data]))
            }
        }
        next(OK, 'Message stored by the test bed')
    })
}
"""


def _dhparams() -> Path:
    """DH parameters for the tls plugin, made once per checkout (Haraka would otherwise run a 2048-bit
    ``openssl dhparam`` in the background of every start, seconds of CPU on a busy 2-core runner)."""
    cached = NPM / "haraka-dhparams.pem"
    if not cached.exists():
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(
            ["openssl", "dhparam", "-dsaparam", "-out", str(tmp), "2048"],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        tmp.replace(cached)
    return cached


def haraka_missing_reason() -> str | None:
    return npm_missing_reason("Haraka", HARAKA_BIN)


def start_haraka(config: str = "hardened", ready_timeout: float = 30.0) -> BedInstance:
    t0 = time.monotonic()
    inst = new_instance(BedInstance, "haraka", "Haraka", config, NOTES, npm_version(HARAKA_PKG))
    wd = inst.workdir
    cfg = wd / "haraka" / "config"
    (wd / "haraka" / "plugins").mkdir(parents=True)
    shutil.copytree(HARAKA_PKG / "config", cfg)  # the stock files: a partial .ini loses Haraka's defaults
    (wd / "mail").mkdir()
    (wd / "relayed").mkdir()
    (wd / "haraka" / "plugins" / "bed_queue.js").write_text(BED_PLUGIN)
    (cfg / "smtp.ini").write_text(f"listen=127.0.0.1:{inst.port}\nnodes=0\ndaemonize=false\n")
    (cfg / "me").write_text("mx.lab.test\n")
    (cfg / "host_list").write_text("lab.test\nmx.lab.test\n")
    (cfg / "log.ini").write_text("[main]\nlevel=info\ntimestamps=true\n")
    plugins = ["bed_queue", "rcpt_to.in_host_list"]
    if config == "hardened":
        inst.cert_path, key = make_cert(wd)
        inst.tls = True
        (cfg / "tls.ini").write_text(f"[main]\nkey={key}\ncert={inst.cert_path}\n")
        (cfg / "helo.checks.ini").write_text(
            "[check]\nforward_dns=false\nrdns_match=false\nhost_mismatch=false\nbig_company=false\n"
            "dynamic=false\n[reject]\nvalid_hostname=true\nbare_ip=true\nliteral_mismatch=false\n"
            "[skip]\nprivate_ip=false\nrelaying=false\n"
        )
        ini = (cfg / "connection.ini").read_text().replace("bytes=26214400", "bytes=10485760")
        (cfg / "connection.ini").write_text(ini)
        (cfg / "databytes").write_text("10485760\n")
        shutil.copy(_dhparams(), cfg / "dhparams.pem")
        plugins = ["tls", "helo.checks", *plugins]
    (cfg / "plugins").write_text("\n".join(plugins) + "\n")
    env = dict(os.environ, BED_DIR=str(wd), BED_OPEN="1" if config == "permissive" else "0")
    # hardened: helo.checks' valid_hostname needs the public-suffix list, loaded after the port opens
    ready_log = "loaded Public Suffixes" if config == "hardened" else None
    argv = [str(HARAKA_BIN), "-c", str(wd / "haraka")]
    return launch(inst, argv, ready_timeout, t0, env=env, cwd=wd, ready_log=ready_log)


haraka_hardened = bed_fixture("haraka-hardened")
haraka_permissive = bed_fixture("haraka-permissive")
haraka_factory = factory_fixture("haraka_factory", "Haraka", haraka_missing_reason, start_haraka)
