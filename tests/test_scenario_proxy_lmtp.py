"""Scenario hooks for send's transports: a `proxy` step against a Postfix behind the PROXY protocol, an XCLIENT
`send` step, and the `lmtp` port role against Dovecot's LMTP server. Consequences checked in the mailboxes."""

from __future__ import annotations

import json

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe

PROXY_XCLIENT = """
[[scenario]]
id = "proxied-client-delivers"
title = "A client announced by a PROXY v2 header can deliver"
basis = "rfc"
reference = "HAProxy proxy-protocol.txt 2.2"
why = "a server behind a proxy must see (and log) the real client"
ports = ["mx"]

[[scenario.step]]
proxy = { version = 2, source = "192.0.2.44", source_port = 40000 }
expect = { code = 220 }

[[scenario.step]]
send = "EHLO {helo}"

[[scenario.step]]
send = "MAIL FROM:<probe@example.org>"

[[scenario.step]]
send = "RCPT TO:<{local_rcpt}>"
expect = { code = 250 }

[[scenario.step]]
data = "Subject: scenario-proxy\\r\\n\\r\\nhello\\r\\n"
expect = { code = 250 }
"""

LMTP = """
[[scenario]]
id = "lmtp-per-recipient"
title = "LMTP answers once per recipient after the message"
basis = "rfc"
reference = "RFC 2033 4.2"
why = "an LMTP client needs each recipient's own outcome"
ports = ["lmtp"]

[[scenario.step]]
send = "LHLO {helo}"
expect = { code = 250, advertises = ["PIPELINING"] }

[[scenario.step]]
send = "MAIL FROM:<probe@example.org>"

[[scenario.step]]
send = "RCPT TO:<alice@lab.test>"

[[scenario.step]]
send = "RCPT TO:<bob@lab.test>"

[[scenario.step]]
data = "Subject: scenario-lmtp\\r\\n\\r\\nhello\\r\\n"
expect = { code = 250, text = "alice@lab.test" }

[[scenario.step]]
read = 5
expect = { code = 250, text = "bob@lab.test" }
"""


def test_proxy_step_against_postfix_behind_haproxy(postfix_factory, tmp_path):
    postfix = postfix_factory("strict")
    postfix.reconfigure(smtpd_upstream_proxy_protocol="haproxy")
    (tmp_path / "proxy.toml").write_text(PROXY_XCLIENT)
    run = smtpprobe(
        "run",
        str(tmp_path / "proxy.toml"),
        "-s",
        postfix.host,
        "-p",
        f"mx={postfix.smtp_port}",
        "--local-rcpt",
        postfix.local_rcpt,
        "--helo",
        "client.example.org",
        "--format",
        "json",
    )
    assert run.code == Exit.OK, run.out + run.err
    assert json.loads(run.out)["summary"]["pass"] == 1
    message = next(m for m in postfix.delivered() if b"Subject: scenario-proxy" in m)
    assert b"[192.0.2.44]" in message.split(b"\n\n", 1)[0]


def test_lmtp_role_against_dovecot(dovecot, tmp_path):
    before = len(dovecot.delivered("bob"))
    (tmp_path / "lmtp.toml").write_text(LMTP)
    run = smtpprobe(
        "run",
        str(tmp_path / "lmtp.toml"),
        "-s",
        "127.0.0.1",
        "-p",
        f"lmtp={dovecot.lmtp_port}",
        "--local-rcpt",
        "alice@lab.test",
        "--helo",
        "client.example.org",
        "--format",
        "json",
    )
    assert run.code == Exit.OK, run.out + run.err
    assert json.loads(run.out)["summary"]["pass"] == 1
    assert len(dovecot.delivered("bob")) == before + 1
