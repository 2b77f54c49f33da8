"""nodemailer's smtp-server library (npm ``smtp-server`` 3.x, under .testbed/npm) for the multi-MTA bed.

A library, not an MTA: the policy is the few callbacks every application writes (onAuth, onRcptTo,
onData), here in a small node script of ours (SERVER_JS) configured per instance; protocol handling (HELO,
pipelining, DATA, STARTTLS, AUTH) is all the library's. onData stores the message in a maildir (local
recipients) or the catch-all ``relayed`` maildir (with a ``Delivered-To:`` line naming the recipient) before the library answers 250, so no wait is needed.

Fixtures
--------
``smtp_server_hardened``   (session) -- AUTH not offered, relay refused (``550 5.7.1 Relay access
    denied``), unknown local users ``550 5.1.1 User unknown``, STARTTLS with our cert, 10 MB.
``smtp_server_permissive`` (session) -- AUTH not offered, every recipient accepted (open relay), no TLS.
``smtp_server_auth_first`` (session) -- the library's defaults (``authOptional: false``): MAIL before AUTH
    is ``530 Error: authentication Required``; AUTH needs STARTTLS first (``allowInsecureAuth: false``);
    once authenticated as ``AUTH_USER``/``AUTH_PASSWORD`` it relays to any domain. The AUTH-first gate case.
``smtp_server_factory``    (function) -- ``smtp_server_factory(config)``.

API (``start_smtp_server(config) -> BedInstance``): ``host``, ``ports`` ({"mx": p}), ``local_rcpt``,
``local_user``, ``tls``, ``cert_path``, ``version``, ``startup_seconds``, ``log()``, ``delivered()``,
``relayed()``, ``stop()``; ``auth_user`` / ``auth_password`` attributes on the auth-first instance.

Pitfalls found building this (smtp-server 3.x, node 20)
    * Without ``key``/``cert`` the library offers STARTTLS with a certificate bundled in the package; the
      permissive instance sets ``disabledCommands: ['STARTTLS']`` so "no TLS" really means none.
    * AUTH is refused in plaintext (``538 Error: Must issue a STARTTLS command first``) unless
      ``allowInsecureAuth``: the auth-first instance keeps that default, so AUTH happens inside TLS.
"""

from __future__ import annotations

import json
import os
import time

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

PKG = NPM / "node_modules" / "smtp-server"
AUTH_USER = "bed-user"
AUTH_PASSWORD = "bed-password-123"  # a test credential for a loopback server the test starts

NOTES = {
    "hardened": "no AUTH, relay refused, unknown users refused, STARTTLS, 10 MB",
    "permissive": "no AUTH, open relay (every recipient accepted), no TLS",
    "auth-first": "library defaults: AUTH required before MAIL, AUTH only inside TLS; relays once authenticated",
}

SERVER_JS = r"""
const fs = require('node:fs')
const path = require('node:path')
const { SMTPServer } = require('smtp-server')
const cfg = JSON.parse(process.env.BED_CONFIG)
const LOCAL_DOMAINS = ['lab.test', 'mx.lab.test']
const LOCAL_USERS = ['postmaster', 'user']

function deliver(dir, data) {
    for (const sub of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(dir, sub), { recursive: true })
    const name = `${Date.now()}.${process.pid}.${Math.random().toString(36).slice(2)}`
    fs.writeFileSync(path.join(dir, 'tmp', name), data)
    fs.renameSync(path.join(dir, 'tmp', name), path.join(dir, 'new', name))
}

function split(address) {
    const at = address.lastIndexOf('@')
    return [address.slice(0, at).toLowerCase(), address.slice(at + 1).toLowerCase()]
}

const options = {
    name: 'mx.lab.test',
    banner: 'smtp-server test bed',
    logger: true,
    disableReverseLookup: true,  // no PTR query through the system resolver
    size: cfg.size,
    authOptional: cfg.authOptional,
    disabledCommands: cfg.disabledCommands,
    onAuth(auth, session, cb) {
        if (auth.username === cfg.authUser && auth.password === cfg.authPassword) return cb(null, { user: auth.username })
        cb(new Error('Invalid username or password'))
    },
    onRcptTo(address, session, cb) {
        const [user, domain] = split(address.address)
        if (LOCAL_DOMAINS.includes(domain)) {
            if (LOCAL_USERS.includes(user)) return cb()
            const e = new Error('5.1.1 User unknown'); e.responseCode = 550; return cb(e)
        }
        if (cfg.open || session.user) return cb()
        const e = new Error('5.7.1 Relay access denied'); e.responseCode = 550; cb(e)
    },
    onData(stream, session, cb) {
        const chunks = []
        stream.on('data', (c) => chunks.push(c))
        stream.on('end', () => {
            if (stream.sizeExceeded) {
                const e = new Error('5.3.4 Message too big'); e.responseCode = 552; return cb(e)
            }
            const data = Buffer.concat(chunks)
            for (const r of session.envelope.rcptTo) {
                const [user, domain] = split(r.address)
                if (LOCAL_DOMAINS.includes(domain) && LOCAL_USERS.includes(user)) deliver(path.join(cfg.dir, 'mail', user), data)
                else deliver(path.join(cfg.dir, 'relayed'), Buffer.concat([Buffer.from(`Delivered-To: ${r.address}\r\n`), data]))
            }
            cb(null, 'Message stored by the test bed')
        })
    },
}
if (cfg.key) { options.key = fs.readFileSync(cfg.key); options.cert = fs.readFileSync(cfg.cert) }
const server = new SMTPServer(options)
server.on('error', (e) => console.error('server error', e))
server.listen(cfg.port, '127.0.0.1')
"""


def smtp_server_missing_reason() -> str | None:
    return npm_missing_reason("smtp-server", PKG)


def start_smtp_server(config: str = "hardened", ready_timeout: float = 20.0) -> BedInstance:
    t0 = time.monotonic()
    inst = new_instance(BedInstance, "smtp-server", "smtp-server", config, NOTES, npm_version(PKG))
    wd = inst.workdir
    (wd / "mail").mkdir()
    (wd / "relayed").mkdir()
    cfg: dict[str, object] = {
        "dir": str(wd),
        "port": inst.port,
        "open": config == "permissive",
        "authUser": AUTH_USER,
        "authPassword": AUTH_PASSWORD,
        "size": 10485760 if config == "hardened" else 0,
        "authOptional": config != "auth-first",
        "disabledCommands": {"hardened": ["AUTH"], "permissive": ["AUTH", "STARTTLS"]}.get(config, []),
    }
    if config != "permissive":
        inst.cert_path, key = make_cert(wd)
        cfg.update(key=str(key), cert=str(inst.cert_path))
        inst.tls = True
    if config == "auth-first":
        inst.auth_user, inst.auth_password = AUTH_USER, AUTH_PASSWORD  # type: ignore[attr-defined]
    (wd / "server.js").write_text(SERVER_JS)
    env = dict(os.environ, BED_CONFIG=json.dumps(cfg), NODE_PATH=str(NPM / "node_modules"))
    return launch(inst, ["node", str(wd / "server.js")], ready_timeout, t0, env=env, cwd=wd)


smtp_server_hardened = bed_fixture("smtp-server-hardened")
smtp_server_permissive = bed_fixture("smtp-server-permissive")
smtp_server_auth_first = bed_fixture("smtp-server-auth-first")
smtp_server_factory = factory_fixture(
    "smtp_server_factory", "smtp-server", smtp_server_missing_reason, start_smtp_server
)
