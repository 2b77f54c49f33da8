"""What swaks users reach for, against real servers: XCLIENT and PROXY (Postfix), client certificates and a
pinned TLS version/cipher (Postfix), LMTP over TCP and a UNIX socket (Dovecot), a pipe to `sendmail -bs`
(Postfix), SASL SCRAM and OAuth (Postfix with Dovecot SASL), ESMTP parameters chosen from the message,
BDAT, --drop-after, --dump-message, --tls-get-peer-chain. Each test checks a consequence on the server: the
mail in the mailbox or the relay queue, the Received header the server wrote, the server's log."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe

HELO = "client.example.org"


def _send(port, *options, host="127.0.0.1"):
    return smtpprobe(
        "send",
        "--server",
        f"{host}:{port}",
        "--from",
        "probe@example.org",
        "--helo",
        HELO,
        "--timeout",
        "10",
        *options,
    )


def _received(message: bytes) -> str:
    """The first Received header Postfix wrote, unfolded."""
    header = message.split(b"\n\n", 1)[0].decode(errors="replace")
    return re.sub(r"\n\s+", " ", header).split("Received: ", 1)[1].split("\n", 1)[0]


# -- XCLIENT (Postfix, smtpd_authorized_xclient_hosts) -------------------------------------------------------


def test_xclient_makes_postfix_treat_us_as_a_trusted_client(postfix_factory):
    postfix = postfix_factory("strict", {"smtpd_authorized_xclient_hosts": "127.0.0.0/8"})
    refused = _send(postfix.smtp_port, "--to", "victim@example.net")
    assert refused.code == Exit.RCPT  # 127.0.0.1 is outside mynetworks (127.0.0.2/32): relay denied
    run = _send(
        postfix.smtp_port,
        "--to",
        "victim@example.net",
        "--xclient-addr",
        "127.0.0.2",
        "--xclient-name",
        "trusted.example.org",
        "--xclient-helo",
        "trusted.example.org",
        "--header",
        "Subject: via-xclient",
    )
    assert run.code == 0, run.out + run.err
    assert " -> XCLIENT ADDR=127.0.0.2 NAME=trusted.example.org HELO=trusted.example.org" in run.out
    assert run.out.index("XCLIENT ADDR") < run.out.index(
        "<-  220 mx.lab.test ESMTP", run.out.index("XCLIENT ADDR")
    )
    relayed = [m for m in postfix.relayed() if b"Subject: via-xclient" in m]
    assert len(relayed) == 1  # relayed as if from 127.0.0.2, the consequence XCLIENT is for
    assert "from trusted.example.org (trusted.example.org [127.0.0.2])" in _received(relayed[0])


def test_xclient_not_offered_is_its_own_exit_code(postfix_strict):
    run = _send(postfix_strict.smtp_port, "--to", postfix_strict.local_rcpt, "--xclient-addr", "192.0.2.1")
    assert run.code == Exit.XCLIENT
    assert "does not offer XCLIENT" in run.err
    assert " -> QUIT" in run.out


# -- PROXY protocol (Postfix, smtpd_upstream_proxy_protocol = haproxy) ---------------------------------------


@pytest.mark.parametrize(
    ("version", "source", "dest"),
    [(1, "192.0.2.7", None), (2, "192.0.2.8", None), (2, "2001:db8::9", "2001:db8::25")],
)
def test_proxy_header_gives_postfix_the_original_client(postfix_factory, version, source, dest):
    postfix = postfix_factory(
        "strict", {"inet_protocols": "all"}
    )  # IPv6 clients exist only with ipv6 enabled
    postfix.reconfigure(
        smtpd_upstream_proxy_protocol="haproxy"
    )  # after start: the bed's readiness probe speaks no PROXY
    subject = f"Subject: proxy-v{version}-{source}"
    run = _send(
        postfix.smtp_port,
        "--to",
        postfix.local_rcpt,
        "--proxy-version",
        str(version),
        "--proxy-source",
        source,
        "--proxy-source-port",
        "40000",
        *(["--proxy-dest", dest] if dest else []),
        "--header",
        subject,
    )
    assert run.code == 0, run.out + run.err
    if version == 1:
        assert f" -> PROXY TCP4 {source} 127.0.0.1 40000 {postfix.smtp_port}" in run.out
    else:
        assert " -> PROXY v2 header, " in run.out
    message = next(m for m in postfix.delivered() if subject.encode() in m)
    assert f"[{source if ':' not in source else 'IPv6:' + source}]" in _received(message)


def test_without_proxy_header_a_proxy_protocol_postfix_never_greets(postfix_factory):
    postfix = postfix_factory("strict", {"smtpd_upstream_proxy_timeout": "2s"})
    postfix.reconfigure(smtpd_upstream_proxy_protocol="haproxy")
    run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--greeting-timeout", "5")
    assert run.code == Exit.BANNER  # the server waits for the header, then gives up with 421
    assert "<** 421 4.3.0 mx.lab.test Server local error" in run.out
    assert "warning: haproxy read: timeout error" in postfix.maillog()


# -- TLS: client certificate, pinned version and cipher, the peer's chain ------------------------------------


def _client_cert(directory: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from tests.servers._certs import make_ca

    ca_path, ca_cert, ca_key = make_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client.example.org")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "client.crt", directory / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path


def test_client_certificate_lets_postfix_relay(postfix_factory, tmp_path):
    ca, cert, key = _client_cert(tmp_path)
    postfix = postfix_factory(
        "default",
        {
            "smtpd_tls_ask_ccert": "yes",
            "smtpd_tls_CAfile": str(ca),
            "smtpd_relay_restrictions": "permit_tls_all_clientcerts, reject_unauth_destination",
        },
    )
    without = _send(postfix.smtp_port, "--tls", "--to", "victim@example.net")
    assert without.code == Exit.RCPT, without.out
    run = _send(
        postfix.smtp_port,
        "--tls",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--to",
        "victim@example.net",
        "--header",
        "Subject: client-cert",
    )
    assert run.code == 0, run.out + run.err
    assert [m for m in postfix.relayed() if b"Subject: client-cert" in m]
    assert "Trusted TLS connection established from localhost[127.0.0.1]" in postfix.maillog()


def test_unreadable_client_certificate_is_one_line(postfix_strict, tmp_path):
    run = _send(
        postfix_strict.smtp_port,
        "--tls",
        "--tls-cert",
        str(tmp_path / "missing.pem"),
        "--to",
        postfix_strict.local_rcpt,
    )
    assert run.code == Exit.USAGE  # bad input, found before connecting (tests/test_attack_tls_files.py)
    assert f"--tls-cert {tmp_path / 'missing.pem'}: No such file or directory" in run.err
    assert "Traceback" not in run.err


def test_pinned_tls_version_and_cipher_reach_postfix(postfix_factory, tmp_path):
    postfix = postfix_factory("strict")
    chain = tmp_path / "chain.pem"
    run = _send(
        postfix.smtp_port,
        "--tls",
        "--tls-protocol",
        "TLSv1.2",
        "--tls-cipher",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "--tls-get-peer-chain",
        str(chain),
        "--to",
        postfix.local_rcpt,
        "--header",
        "Subject: pinned-tls",
        "--json",
    )
    result = json.loads(run.out)
    assert run.code == 0, run.err
    assert (result["tls"]["version"], result["tls"]["cipher"]) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
    message = next(m for m in postfix.delivered() if b"Subject: pinned-tls" in m)
    assert "using TLSv1.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256" in _received(message)  # what Postfix saw
    assert chain.read_text() == postfix.cert_path.read_text()  # the chain saved is the server's certificate


def test_tls_version_the_server_refuses_fails_the_handshake(postfix_factory):
    postfix = postfix_factory("strict", {"smtpd_tls_protocols": ">=TLSv1.3"})
    run = _send(postfix.smtp_port, "--tls", "--tls-protocol", "TLSv1.2", "--to", postfix.local_rcpt)
    assert run.code == Exit.TLS
    assert "TLS handshake failed" in run.err


# -- LMTP (Dovecot), over TCP and a UNIX socket ----------------------------------------------------------------


def test_lmtp_one_reply_per_recipient_and_both_mailboxes_get_it(dovecot):
    before = {u: len(dovecot.delivered(u)) for u in ("alice", "bob")}
    run = smtpprobe(
        "send",
        "--server",
        f"127.0.0.1:{dovecot.lmtp_port}",
        "--lmtp",
        "--to",
        "alice@lab.test",
        "--to",
        "bob@lab.test",
        "--to",
        "nobody@lab.test",
        "--from",
        "probe@example.org",
        "--helo",
        HELO,
        "--header",
        "Subject: lmtp-tcp",
        "--json",
    )
    result = json.loads(run.out)
    assert run.code == 0, run.out + run.err
    sent = [e["text"] for e in result["transcript"] if e["kind"] == "sent"]
    assert sent[0] == f"LHLO {HELO}"
    replies = [e["text"] for e in result["transcript"] if e["kind"] == "received"]
    assert [r for r in replies if "Saved" in r] == [r for r in replies[-3:-1]]  # two replies after the dot
    assert result["delivered_recipients"] == ["alice@lab.test", "bob@lab.test"]
    for user in ("alice", "bob"):
        mails = dovecot.delivered(user)
        assert len(mails) == before[user] + 1 and b"Subject: lmtp-tcp" in mails[-1]


def test_lmtp_over_a_unix_socket_with_bdat(dovecot):
    before = len(dovecot.delivered("alice"))
    run = smtpprobe(
        "send",
        "--socket",
        dovecot.lmtp_socket,
        "--lmtp",
        "--chunking",
        "--to",
        "alice@lab.test",
        "--from",
        "probe@example.org",
        "--helo",
        HELO,
        "--body",
        "line one\n.line with a dot",
    )
    assert run.code == 0, run.out + run.err
    assert f"=== Connected to {dovecot.lmtp_socket}." in run.out
    assert re.search(r" -> BDAT \d+ LAST", run.out)
    mails = dovecot.delivered("alice")
    assert len(mails) == before + 1
    assert b"\n.line with a dot\n" in mails[-1]  # BDAT: no dot-stuffing, the dot arrives as it was


def test_unix_socket_that_does_not_exist(tmp_path):
    run = smtpprobe("send", "--socket", str(tmp_path / "nothing"), "--to", "a@lab.test")
    assert run.code == Exit.NETWORK
    assert run.err_lines == [f"*** cannot connect to {tmp_path / 'nothing'}: No such file or directory"]


# -- a pipe to a command: Postfix's sendmail -bs -------------------------------------------------------------


def test_pipe_to_postfix_sendmail_bs_delivers(postfix_factory):
    postfix = postfix_factory("strict")
    run = smtpprobe(
        "send",
        "--pipe",
        f"/usr/sbin/sendmail -C {postfix.config_dir} -bs",
        "--to",
        postfix.local_rcpt,
        "--from",
        "probe@example.org",
        "--helo",
        HELO,
        "--header",
        "Subject: via-pipe",
    )
    assert run.code == 0, run.out + run.err
    assert "=== Trying pipe to /usr/sbin/sendmail" in run.out
    assert [m for m in postfix.delivered() if b"Subject: via-pipe" in m]


def test_pipe_to_a_command_that_exits_at_once():
    run = smtpprobe("send", "--pipe", "true", "--to", "a@lab.test", "--timeout", "5")
    assert run.code == Exit.NETWORK
    assert "server closed the connection" in run.err


# -- SASL against Dovecot (through Postfix's smtpd_sasl_type = dovecot) -----------------------------------------


@pytest.fixture
def postfix_with_dovecot_sasl(postfix_factory, dovecot):
    return postfix_factory(
        "strict",
        {
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "dovecot",
            "smtpd_sasl_path": f"inet:127.0.0.1:{dovecot.auth_port}",
            "smtpd_recipient_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
        },
    )


def _auth(postfix, mech, user, secret, *more):
    return _send(
        postfix.smtp_port,
        "--tls",
        "--auth",
        mech,
        "--auth-user",
        user,
        "--auth-password",
        secret,
        "--to",
        "victim@example.net",
        *more,
    )


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_scram_authenticates_and_relays(postfix_with_dovecot_sasl, mech):
    postfix = postfix_with_dovecot_sasl
    run = _auth(postfix, mech, "alice", "wonderland", "--header", f"Subject: {mech}")
    assert run.code == 0, run.out + run.err
    assert "<~  235 2.7.0 Authentication successful" in run.out
    assert "wonderland" not in run.out
    assert [m for m in postfix.relayed() if f"Subject: {mech}".encode() in m]  # relayed: authenticated
    assert f"sasl_method={mech}, sasl_username=alice" in postfix.maillog()


def test_scram_with_a_wrong_password_fails(postfix_with_dovecot_sasl):
    run = _auth(postfix_with_dovecot_sasl, "SCRAM-SHA-256", "alice", "not-the-password")
    assert run.code == Exit.AUTH
    assert "<~* 535 5.7.8 Error: authentication failed" in run.out


@pytest.mark.parametrize("mech", ["XOAUTH2", "OAUTHBEARER"])
def test_oauth_token_accepted_by_dovecot(postfix_with_dovecot_sasl, dovecot, mech):
    postfix = postfix_with_dovecot_sasl
    token = next(iter(dovecot.tokens))
    run = _auth(postfix, mech, "alice", token, "--header", f"Subject: {mech}")
    assert run.code == 0, run.out + run.err
    assert token not in run.out
    assert [m for m in postfix.relayed() if f"Subject: {mech}".encode() in m]
    assert f"sasl_method={mech}, sasl_username=alice" in postfix.maillog()


@pytest.mark.parametrize("mech", ["XOAUTH2", "OAUTHBEARER"])
def test_oauth_wrong_token_or_password_is_refused(postfix_with_dovecot_sasl, dovecot, mech):
    run = _auth(postfix_with_dovecot_sasl, mech, "alice", "wonderland")  # a password is not a token
    assert run.code == Exit.AUTH, run.out
    assert "<~* 535" in run.out
    assert [
        line for line in run.out.splitlines() if line.startswith("<~  334 ")
    ]  # Dovecot's JSON error challenge


# -- ESMTP parameters from the message and the EHLO reply (Postfix) ------------------------------------------


def test_utf8_sender_gets_smtputf8_automatically(postfix_factory):
    postfix = postfix_factory("strict")
    run = smtpprobe(
        "send",
        "--server",
        f"127.0.0.1:{postfix.smtp_port}",
        "--from",
        "jürgen@example.org",
        "--to",
        postfix.local_rcpt,
        "--helo",
        HELO,
        "--header",
        "Subject: utf8-sender",
    )
    assert run.code == 0, run.out + run.err
    # UTF-8 headers (RFC 6532) make the message 8-bit, so BODY=8BITMIME comes with SMTPUTF8
    assert re.search(r" -> MAIL FROM:<jürgen@example.org> BODY=8BITMIME SMTPUTF8 SIZE=\d+", run.out)
    message = next(m for m in postfix.delivered() if b"Subject: utf8-sender" in m)
    assert " with UTF8SMTP id " in _received(message)  # Postfix took it as an SMTPUTF8 transaction
    assert message.startswith("Return-Path: <jürgen@example.org>".encode())
    assert "From: jürgen@example.org".encode() in message  # RFC 6532 header, not a broken encoded-word
    manual = smtpprobe(
        "send",
        "--server",
        f"127.0.0.1:{postfix.smtp_port}",
        "--from",
        "jürgen@example.org",
        "--to",
        postfix.local_rcpt,
        "--helo",
        HELO,
        "--no-auto-params",
        "--header",
        "Subject: no-auto",
    )
    assert manual.code == 0, (
        manual.out
    )  # Postfix is lenient here, but without SMTPUTF8 the mail is plain ESMTP
    plain = next(m for m in postfix.delivered() if b"Subject: no-auto" in m)
    assert " with ESMTP id " in _received(plain)


def test_eight_bit_message_gets_body_8bitmime(postfix_factory, tmp_path):
    postfix = postfix_factory("strict")
    raw = tmp_path / "eight.eml"
    raw.write_bytes(
        "Subject: eight-bit\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n".encode()
    )
    run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--data", str(raw))
    assert run.code == 0, run.out + run.err
    assert re.search(r" -> MAIL FROM:<probe@example.org> BODY=8BITMIME SIZE=\d+", run.out)
    message = next(m for m in postfix.delivered() if b"Subject: eight-bit" in m)
    assert "Grüße aus Köln".encode() in message  # the 8-bit bytes arrived as they were


def test_size_over_the_limit_is_refused_at_mail(postfix_factory):
    postfix = postfix_factory("strict", {"message_size_limit": "2000"})
    run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--body", "x" * 3000)
    assert run.code == Exit.MAIL
    assert "larger than the server's SIZE limit (2000)" in run.out
    assert "<** 552 5.3.4 Message size exceeds fixed limit" in run.out
    assert " -> DATA" not in run.out  # refused before the message was sent


def test_dsn_parameters_produce_a_success_notification(postfix_factory):
    postfix = postfix_factory("strict")
    run = _send(
        postfix.smtp_port,
        "--to",
        postfix.local_rcpt,
        "--dsn-notify",
        "SUCCESS",
        "--dsn-ret",
        "HDRS",
        "--dsn-envid",
        "env+id=42",
        "--dsn-orcpt",
    )
    assert run.code == 0, run.out + run.err
    assert re.search(r" -> MAIL FROM:<probe@example.org> SIZE=\d+ RET=HDRS ENVID=env\+2Bid\+3D42", run.out)
    assert f" -> RCPT TO:<{postfix.local_rcpt}> NOTIFY=SUCCESS ORCPT=rfc822;{postfix.local_rcpt}" in run.out
    notices = [
        m for m in postfix.relayed() if b"Original-Envelope-Id: env+id=42" in m
    ]  # to probe@example.org
    assert len(notices) == 1 and b"Subject: Successful Mail Delivery Report" in notices[0]
    assert b"Action: delivered" in notices[0]


def test_requiretls_is_not_sent_to_a_server_without_it(postfix_factory):
    postfix = postfix_factory("strict")
    run = _send(
        postfix.smtp_port,
        "--tls",
        "--to",
        postfix.local_rcpt,
        "--requiretls",
        "--header",
        "Subject: requiretls",
    )
    assert run.code == Exit.MAIL
    assert "REQUIRETLS asked for but the server does not offer it" in run.err
    assert " ~> MAIL FROM" not in run.out
    assert not [m for m in postfix.delivered() if b"Subject: requiretls" in m]


def test_bdat_to_postfix(postfix_factory):
    postfix = postfix_factory("strict")
    run = _send(
        postfix.smtp_port,
        "--to",
        postfix.local_rcpt,
        "--chunking",
        "--header",
        "Subject: bdat",
        "--body",
        ".leading dot",
    )
    assert run.code == 0, run.out + run.err
    assert re.search(r" -> BDAT \d+ LAST", run.out) and " -> DATA" not in run.out
    message = next(m for m in postfix.delivered() if b"Subject: bdat" in m)
    assert b"\n.leading dot\n" in message


def test_bdat_streams_a_data_file_in_chunks_to_postfix(postfix_factory, tmp_path):
    """A --data file over 1 MiB with --chunking: read from disk as it goes, several BDAT chunks, SIZE= and
    BODY=8BITMIME from the whole file, and Postfix delivers every line of it."""
    postfix = postfix_factory("strict")
    lines = [b"Subject: bdat-file", b"From: me@example.org", b""]
    lines += [b".dot %d \xc3\xa9 " % i + b"x" * 60 for i in range(40_000)]  # ~2.8 MB, 8-bit, LF line ends
    message = tmp_path / "big.eml"
    message.write_bytes(b"\n".join(lines) + b"\n")
    run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--chunking", "--data", str(message))
    assert run.code == 0, run.out + run.err
    sizes = [int(n) for n in re.findall(r" -> BDAT (\d+)", run.out)]
    assert len(sizes) == 3 and sizes[:2] == [1 << 20, 1 << 20] and f" -> BDAT {sizes[2]} LAST" in run.out
    assert sum(sizes) == len(b"\r\n".join(lines) + b"\r\n")  # CRLF line ends, no dot-stuffing
    mail_from = re.search(r" -> MAIL FROM:<[^>]*> (.*)", run.out).group(1).split()
    assert "BODY=8BITMIME" in mail_from and f"SIZE={sum(sizes) + 40_000}" in mail_from  # SIZE counts the doubled dots
    assert re.search(r"=== message data: \d+ bytes sent, the first \d+ shown above", run.out)
    assert len(run.out) < 256 * 1024
    delivered = next(m for m in postfix.delivered() if b"Subject: bdat-file" in m)
    body = delivered.split(b"\n\n", 1)[1]
    assert body.rstrip(b"\n").split(b"\n") == lines[3:]


# -- stopping, dumping -----------------------------------------------------------------------------------------


def test_drop_after_rcpt_hangs_up_without_quit(postfix_factory):
    postfix = postfix_factory("strict")
    run = _send(postfix.smtp_port, "--to", postfix.local_rcpt, "--drop-after", "rcpt")
    assert run.code == 0, run.out + run.err
    assert " -> QUIT" not in run.out and "=== hung up after rcpt without QUIT" in run.out
    postfix.settle(5)
    assert "lost connection after RCPT from" in postfix.maillog()


def test_dump_message_connects_nowhere(tmp_path):
    run = smtpprobe(
        "send",
        "--server",
        "127.0.0.1:1",
        "--to",
        "a@lab.test",
        "--from",
        "me@example.org",
        "--helo",
        HELO,
        "--header",
        "Subject: dumped",
        "--body",
        "hello",
        "--dump-message",
    )
    assert run.code == 0, run.err
    assert "Subject: dumped\n" in run.out and run.out.endswith("\n\nhello\n")  # (text mode: CRLF read as LF)
    assert "Trying" not in run.out


# -- the same from the REPL ----------------------------------------------------------------------------------


def test_repl_scram_and_xclient_by_hand(postfix_factory, dovecot):
    postfix = postfix_factory(
        "strict",
        {
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "dovecot",
            "smtpd_sasl_path": f"inet:127.0.0.1:{dovecot.auth_port}",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
        },
    )
    script = (
        "EHLO client.example.org\nXCLIENT NAME=typed.example.org\nEHLO client.example.org\n/starttls\n"
        "/ehlo client.example.org\n/auth scram-sha-256 alice\nMAIL FROM:<alice@lab.test>\n"
        f"RCPT TO:<{postfix.local_rcpt}>\n"
    )
    run = smtpprobe(
        "repl",
        f"127.0.0.1:{postfix.smtp_port}",
        "--timeout",
        "10",
        input=script,
        env={"NO_COLOR": "1", "SMTPPROBE_AUTH_PASSWORD": "wonderland"},
    )
    assert run.code == 0, run.out + run.err
    assert "<~  235 2.7.0 Authentication successful" in run.out
    # the session Postfix logs: the client name XCLIENT set, the SASL login Dovecot checked
    assert (
        "client=typed.example.org[127.0.0.1], sasl_method=SCRAM-SHA-256, sasl_username=alice"
        in postfix.maillog()
    )


def test_repl_lhlo_records_lmtp_extensions(dovecot):
    run = smtpprobe(
        "repl",
        f"127.0.0.1:{dovecot.lmtp_port}",
        "--timeout",
        "10",
        input="LHLO client.example.org\n",
        env={"NO_COLOR": "1"},
    )
    assert run.code == 0, run.out + run.err
    assert "<-  250 PIPELINING" in run.out


def test_pipe_to_a_command_that_never_answers_is_bounded():
    run = smtpprobe("send", "--pipe", "sleep 30", "--to", "a@lab.test", "--greeting-timeout", "1")
    assert run.code == Exit.NETWORK
    assert run.seconds < 10  # the greeting timeout, then two seconds' grace before the group is killed
    assert "no complete reply within 1s" in run.err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--socket", "/nonexistent", "--proxy-version", "1"], "--proxy-version needs a TCP connection"),
        (["--server", "127.0.0.1:1", "--proxy-source", "192.0.2.1"], "need --proxy-version 1 or 2"),
        (["--server", "127.0.0.1:1", "--tls-key", "k.pem"], "--tls-key needs --tls-cert"),
        (["--server", "127.0.0.1:1", "--quit-after", "mail", "--drop-after", "rcpt"], "exclude each other"),
        (["--server", "127.0.0.1:1", "--tls-protocol", "SSLv3"], "Invalid value for '--tls-protocol'"),
        (["--server", "127.0.0.1:1", "--timeout", "nan"], "--timeout: nan is not a finite number"),
    ],
)
def test_conflicting_or_bad_options_are_one_line_before_connecting(options, message):
    run = smtpprobe("send", "--to", "a@lab.test", *options)
    assert run.code == Exit.USAGE
    assert message in run.err and "Traceback" not in run.err and "Trying" not in run.out


def _challenges_forever(conn, stop):
    from tests.servers.hostile import _read_line

    conn.sendall(b"220 endless.example ESMTP\r\n")
    _read_line(conn)  # EHLO
    conn.sendall(b"250-endless.example\r\n250 AUTH SCRAM-SHA-256 PLAIN\r\n")
    while not stop.is_set() and _read_line(conn):
        conn.sendall(b"334 \r\n")  # whatever we answer, another challenge


def test_a_server_that_challenges_forever_is_cut_off():
    # A purpose-built misbehaving server (no real MTA does this on purpose).
    from tests.servers.hostile import HostileServer

    server = HostileServer(_challenges_forever)
    try:
        run = _send(
            server.port,
            "--to",
            "a@lab.test",
            "--auth",
            "PLAIN",
            "--auth-user",
            "u",
            "--auth-password",
            "p",
            "--allow-plaintext-auth",
        )
    finally:
        server.close()
    assert run.code == Exit.AUTH
    assert "the server still answers 334 after 10 SASL responses; giving up" in run.err
    assert run.seconds < 20


def test_repl_behind_a_proxy_protocol_postfix(postfix_factory):
    postfix = postfix_factory("strict")
    postfix.reconfigure(smtpd_upstream_proxy_protocol="haproxy")
    run = smtpprobe(
        "repl",
        f"127.0.0.1:{postfix.smtp_port}",
        "--timeout",
        "10",
        "--proxy-version",
        "2",
        "--proxy-source",
        "192.0.2.9",
        input="EHLO client.example.org\n",
        env={"NO_COLOR": "1"},
    )
    assert run.code == 0, run.out + run.err
    assert "<-  220 mx.lab.test ESMTP" in run.out
    assert "connect from unknown[192.0.2.9]" in postfix.maillog()  # Postfix saw the announced client


def test_proxy_header_then_implicit_tls(postfix_factory):
    postfix = postfix_factory("strict")
    postfix.reconfigure(smtpd_upstream_proxy_protocol="haproxy")
    run = _send(
        postfix.smtps_port,
        "--tls-on-connect",
        "--proxy-version",
        "1",
        "--proxy-source",
        "192.0.2.10",
        "--to",
        postfix.local_rcpt,
        "--quit-after",
        "rcpt",
    )
    assert run.code == 0, run.out + run.err
    assert (
        run.out.index(" -> PROXY TCP4 192.0.2.10")
        < run.out.index("=== TLS started")
        < run.out.index("<~  220")
    )
    assert "connect from unknown[192.0.2.10]" in postfix.maillog()
