"""DANE (RFC 7672) and MTA-STS (RFC 8461) in `smtpprobe tls` and the catalogue, on a real bed: zones signed
with ldns-signzone and served by NSD, unbound validating with the zones' keys as trust anchors, a real
Postfix as the MX, a real HTTPS server for the policy.

DANE's truth: OpenSSL's own DANE verifier (`openssl s_client -dane_tlsa_rrdata`) must agree with our
match / no match, and unbound (not smtpprobe) decides what is DNSSEC-validated."""

from __future__ import annotations

import hashlib
import json
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cli import smtpprobe
from tests.servers._certs import make_ca, make_server_cert


def spki_sha256(cert_path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def other_key_sha256() -> str:
    """The SPKI hash of a key the server does not have: a TLSA record left behind by a key roll."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return hashlib.sha256(
        key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()


def openssl_dane(port: int, name: str, rrdata: str) -> bool:
    """Does OpenSSL's DANE verification accept the server for this TLSA record?"""
    out = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-starttls",
            "smtp",
            "-dane_tlsa_domain",
            name,
            "-dane_tlsa_rrdata",
            rrdata,
            "-dane_ee_no_namechecks",  # DANE-EE: names do not matter (RFC 7672 §3.2.1)
            "-verify_return_error",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    ).stdout
    return "Verification: OK" in out and "DANE TLSA" in out


def dane_scan(inst, name: str, resolver: str):
    run = smtpprobe(
        "tls",
        "--server",
        f"127.0.0.1:{inst.smtp_port}",
        "--name",
        name,
        "--dane",
        "--resolver",
        resolver,
        "--format",
        "json",
        "--timeout",
        "5",
        timeout=60,
    )
    assert run.code in (0, 1), run.out + run.err
    report = json.loads(run.out)
    return run.code, report["dane"], [f for f in report["findings"] if f["topic"] == "dane"]


def test_dane_matching_stale_and_unsigned(postfix_strict, dnssec_bed):
    inst = postfix_strict
    good, stale = f"3 1 1 {spki_sha256(inst.cert_path)}", f"3 1 1 {other_key_sha256()}"
    tlsa = f"_{inst.smtp_port}._tcp.mx"
    resolver = dnssec_bed(
        {
            "dane-good.test": f"mx A 127.0.0.1\n{tlsa} TLSA {good}",
            "dane-stale.test": f"mx A 127.0.0.1\n{tlsa} TLSA {stale}",
            "dane-unsigned.test": f"mx A 127.0.0.1\n{tlsa} TLSA {good}",
        },
        signed={"dane-good.test", "dane-stale.test"},
    )
    code, dane, findings = dane_scan(inst, "mx.dane-good.test", resolver)
    assert findings == [] and dane["details"]["dnssec"] == "validated (AD)", dane
    assert dane["summary"].startswith("the presented chain matches 1 of 1")  # (exit 1: Postfix's TLS 1.0)
    assert openssl_dane(inst.smtp_port, "mx.dane-good.test", good)  # OpenSSL agrees: a match

    code, dane, findings = dane_scan(inst, "mx.dane-stale.test", resolver)
    assert code == 1 and [f["severity"] for f in findings] == ["fail"], dane
    assert "none of the usable TLSA records matches" in findings[0]["text"]
    assert not openssl_dane(inst.smtp_port, "mx.dane-stale.test", stale)  # OpenSSL agrees: no match

    code, dane, findings = dane_scan(inst, "mx.dane-unsigned.test", resolver)
    assert dane["details"]["dnssec"] == "NOT validated" and "not usable" in dane["summary"]
    assert [f["severity"] for f in findings] == ["warn"] and "ignore" in findings[0]["text"]


def test_dane_scenario_in_a_run(postfix_strict, dnssec_bed):
    """The catalogue's `dane` scenario: the MX name comes from the greeting (mx.lab.test)."""
    inst = postfix_strict
    tlsa = f"_{inst.smtp_port}._tcp.mx TLSA 3 1 1 {spki_sha256(inst.cert_path)}"
    resolver = dnssec_bed({"lab.test": f"mx A 127.0.0.1\n{tlsa}"}, signed={"lab.test"})
    run = smtpprobe(
        "run",
        "-s",
        "127.0.0.1",
        "-p",
        f"mx={inst.smtp_port}",
        "--only",
        "dane",
        "--format",
        "json",
        env={"SMTPPROBE_RESOLVER": resolver},
        timeout=60,
    )
    [result] = json.loads(run.out)["results"]
    assert result["verdict"] == "pass", result
    assert run.code == 0


def _sts_bed(dnssec_bed, https_policy_server, odd_cert_target, tmp_path, policy_mx: str, text: bool = False):
    """domain sts.test: MX mx.sts.test (a real TLS SMTP server with a certificate from the test CA), an
    MTA-STS policy over HTTPS from mta-sts.sts.test with mx: `policy_mx`, and a TLS-RPT record."""
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    ca_file, ca_cert, ca_key = make_ca(web_dir)
    web_cert, web_key = make_server_cert(web_dir, ["mta-sts.sts.test"], (ca_cert, ca_key))
    address = https_policy_server(
        web_cert, web_key, f"version: STSv1\r\nmode: enforce\r\nmx: {policy_mx}\r\nmax_age: 86400\r\n"
    )
    mx = odd_cert_target(["mx.sts.test"])
    trust = tmp_path / "trust.pem"
    trust.write_bytes(ca_file.read_bytes() + mx.ca_file.read_bytes())
    resolver = dnssec_bed(
        {
            "sts.test": (
                f"@ MX 10 mx.sts.test.\nmx A 127.0.0.1\nmta-sts A {address}\n"
                '_mta-sts TXT "v=STSv1; id=20261128T0000"\n_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@sts.test"'
            )
        }
    )
    run = smtpprobe(
        "tls",
        "--server",
        f"127.0.0.1:{mx.starttls_port}",
        "--name",
        "mx.sts.test",
        "--mta-sts",
        "sts.test",
        "--resolver",
        resolver,
        "--tls-ca-file",
        str(trust),
        "--format",
        "table" if text else "json",
        "--timeout",
        "5",
        timeout=60,
    )
    assert run.code in (0, 1), run.out + run.err
    if text:
        return run.code, run.out, run.err
    report = json.loads(run.out)
    return run.code, report["mta_sts"], [f for f in report["findings"] if f["topic"] == "mta-sts"]


def test_mta_sts_policy_covering_the_mx_passes(dnssec_bed, https_policy_server, odd_cert_target, tmp_path):
    code, sts, findings = _sts_bed(dnssec_bed, https_policy_server, odd_cert_target, tmp_path, "mx.sts.test")
    assert sts["details"].get("mode") == "enforce" and sts["details"]["mx"] == ["mx.sts.test"], sts
    assert sts["details"]["tls_rpt"] == "v=TLSRPTv1; rua=mailto:tlsrpt@sts.test"
    assert [f for f in findings if f["severity"] != "info"] == [], findings
    assert code == 0


def test_mta_sts_policy_not_covering_the_mx_fails(dnssec_bed, https_policy_server, odd_cert_target, tmp_path):
    code, _, findings = _sts_bed(dnssec_bed, https_policy_server, odd_cert_target, tmp_path, "*.other.test")
    assert code == 1
    assert any(f["severity"] == "fail" and "mx.sts.test not covered" in f["text"] for f in findings), findings


def test_no_records_means_not_applicable(postfix_strict, dnssec_bed):
    resolver = dnssec_bed({"plain.test": "mx A 127.0.0.1"})
    run = smtpprobe(
        "tls",
        "--server",
        f"127.0.0.1:{postfix_strict.smtp_port}",
        "--name",
        "mx.plain.test",
        "--dane",
        "--mta-sts",
        "plain.test",
        "--resolver",
        resolver,
        "--timeout",
        "5",
    )
    assert (
        "DANE: no TLSA records at" in run.out and "MTA-STS: plain.test publishes no MTA-STS record" in run.out
    )


def test_audit_reports_the_domains_mta_sts_policy(dnssec_bed, https_policy_server, tmp_path):
    """`smtpprobe audit`: the policy fetched and every MX checked against it (no MX scan: DNS and HTTPS)."""
    ca_file, ca_cert, ca_key = make_ca(tmp_path)
    web_cert, web_key = make_server_cert(tmp_path, ["mta-sts.audit.test"], (ca_cert, ca_key))
    address = https_policy_server(
        web_cert, web_key, "version: STSv1\nmode: enforce\nmx: other.test\nmax_age: 86400\n"
    )
    resolver = dnssec_bed(
        {
            "audit.test": f"@ MX 10 mx.audit.test.\nmx A 127.0.0.1\nmta-sts A {address}\n"
            '_mta-sts TXT "v=STSv1; id=1"\n@ TXT "v=spf1 -all"'
        }
    )
    # the policy server's certificate comes from a test CA: trusted through SSL_CERT_FILE, as OpenSSL allows
    run = smtpprobe(
        "audit",
        "audit.test",
        "--resolver",
        resolver,
        "--format",
        "json",
        timeout=60,
        env={"SSL_CERT_FILE": str(ca_file)},
    )
    findings = {f["id"]: f for f in json.loads(run.out)["findings"]}
    assert "host.mta-sts-policy" in findings, findings.keys()
    assert "mx.audit.test not covered" in findings["host.mta-sts-policy"]["message"]
    assert findings["host.mta-sts-policy"]["severity"] == "error"
    assert run.code == 1


def test_a_hostile_policy_reaches_the_terminal_escaped(
    dnssec_bed, https_policy_server, odd_cert_target, tmp_path
):
    code, out, err = _sts_bed(
        dnssec_bed, https_policy_server, odd_cert_target, tmp_path, "\x1b]0;pwned\x07.test", text=True
    )
    assert code == 1 and "\x1b" not in out + err and "\x07" not in out
    assert "\\x1b]0;pwned\\x07.test" in out


def _resolver_validates(resolver: str, name: str) -> bool:
    """unbound's own word, read without smtpprobe: the AD bit on its answer to a TLSA question."""
    import dns.flags
    import dns.message
    import dns.query

    host, port = resolver.rsplit(":", 1)
    query = dns.message.make_query(name, "TLSA", want_dnssec=True)
    response = dns.query.udp(query, host, port=int(port), timeout=5)
    assert response.answer, f"no TLSA answer for {name}"
    return bool(response.flags & dns.flags.AD)


def test_audit_warns_of_tlsa_records_the_resolver_did_not_validate(dnssec_bed):
    """`smtpprobe audit`: the MX's TLSA records are checked through the audit's own resolver, whose AD bit
    says whether unbound validated them; an unsigned zone's TLSA is a warning (senders ignore it, RFC 7672
    §2.2), a signed one none. Truth: unbound's AD bit, asked directly."""
    tlsa = "3 1 1 " + "ab" * 32
    resolver = dnssec_bed(
        {
            zone: f'@ MX 10 mx.{zone}.\nmx A 127.0.0.1\n_25._tcp.mx TLSA {tlsa}\n@ TXT "v=spf1 -all"'
            for zone in ("dane-signed.test", "dane-plain.test")
        },
        signed={"dane-signed.test"},
    )
    assert _resolver_validates(resolver, "_25._tcp.mx.dane-signed.test")
    assert not _resolver_validates(resolver, "_25._tcp.mx.dane-plain.test")
    reports = {}
    for zone in ("dane-signed.test", "dane-plain.test"):
        run = smtpprobe("audit", zone, "--resolver", resolver, "--format", "json", "--dkim-selector", "s",
                        timeout=60)
        reports[zone] = {f["id"]: f for f in json.loads(run.out)["findings"]}
    assert "host.dane" not in reports["dane-signed.test"]
    warning = reports["dane-plain.test"]["host.dane"]
    assert warning["severity"] == "warning" and "_25._tcp.mx.dane-plain.test is not DNSSEC-validated" in (
        warning["message"])
