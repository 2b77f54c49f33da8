"""`smtpprobe tls` and the TLS catalogue scenarios against real Postfix instances: a weak one (TLS 1.0/1.1,
anonymous and NULL suites, OpenSSL security level 0) and a strong one (TLS 1.2+, ECDHE with AEAD only).

Truth comes from real handshakes with OpenSSL's own client (`openssl s_client`), not from smtpprobe's
reading of ServerHellos: what the scan calls accepted must complete a handshake, what it calls refused must
not."""

from __future__ import annotations

import json
import shutil
import subprocess

from tests.cli import smtpprobe
from tests.servers._common import unavailable

PROTOCOLS = {"TLSv1.0": ">=TLSv1", "TLSv1.2": ">=TLSv1.2"}
# Postfix 3.7 with OpenSSL 3: TLS 1.0/1.1 and anonymous suites need security level 0.
WEAK = {
    "tls_medium_cipherlist": "ALL:aNULL:eNULL:@SECLEVEL=0",
    "smtpd_tls_protocols": ">=TLSv1",
    "smtpd_tls_mandatory_protocols": ">=TLSv1",
}
ANON_ONLY = {
    "tls_medium_cipherlist": "ALL:aNULL:!eNULL:@SECLEVEL=0",
    "smtpd_tls_protocols": ">=TLSv1.2",
    "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
}
STRONG = {
    "tls_medium_cipherlist": "ECDHE+AESGCM:ECDHE+CHACHA20",
    "smtpd_tls_protocols": ">=TLSv1.2",
    "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
}
S_CLIENT_VERSION = {"TLSv1.0": "-tls1", "TLSv1.1": "-tls1_1", "TLSv1.2": "-tls1_2", "TLSv1.3": "-tls1_3"}


def handshake(port: int, *options: str, starttls: bool = False) -> str | None:
    """The cipher OpenSSL's client negotiated with the server, or None when the handshake failed."""
    if shutil.which("openssl") is None:
        unavailable("openssl command not installed")
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *options]
    if starttls:
        args += ["-starttls", "smtp"]
    out = subprocess.run(args, check=False, input="", capture_output=True, text=True, timeout=20).stdout
    for line in out.splitlines():
        if "Cipher is" in line and "(NONE)" not in line:
            return line.rsplit(" ", 1)[-1]
    return None


def run_scenarios(inst, *only: str) -> dict[tuple[str, str], dict]:
    args = [
        "run",
        "-s",
        "127.0.0.1",
        "-p",
        f"mx={inst.smtp_port}",
        "-p",
        f"submission={inst.submission_port}",
        "-p",
        f"smtps={inst.smtps_port}",
        "--format",
        "json",
        "--timeout",
        "10",
    ]
    for scenario in only:
        args += ["--only", scenario]
    run = smtpprobe(*args, timeout=120)
    assert run.code in (0, 1), run.out + run.err
    return {(r["id"], r["role"]): r for r in json.loads(run.out)["results"]}


def scan(port: int, *options: str) -> tuple[int, dict]:
    run = smtpprobe("tls", "--server", f"127.0.0.1:{port}", "--format", "json", *options, timeout=60)
    assert run.code in (0, 1), run.out + run.err
    return run.code, json.loads(run.out)


def test_weak_postfix_fails_tls_versions_and_gets_the_anonymous_suite_finding(postfix_factory):
    inst = postfix_factory("strict", WEAK)
    results = run_scenarios(inst, "tls-versions", "tls-ciphers")
    for role in ("mx", "submission", "smtps"):
        assert results[("tls-versions", role)]["verdict"] == "fail"
        assert "TLSv1.0 accepted" in results[("tls-versions", role)]["reason"]
        assert results[("tls-ciphers", role)]["verdict"] == "fail"  # NULL suites fail everywhere
        assert "anonymous suite" in results[("tls-ciphers", role)]["summary"]
    # The consequences: OpenSSL's own client completes a TLS 1.0 and an anonymous handshake.
    assert handshake(inst.smtps_port, "-tls1", "-cipher", "ALL:@SECLEVEL=0") is not None
    assert handshake(inst.smtp_port, "-tls1_2", "-cipher", "aNULL:@SECLEVEL=0", starttls=True).startswith(
        ("ADH-", "AECDH-")
    )


def test_scan_agrees_with_real_handshakes_version_by_version(postfix_factory):
    inst = postfix_factory("strict", WEAK)
    code, report = scan(inst.smtps_port, "--tls-on-connect")
    assert code == 1
    accepted = {v["version"]: v["accepted"] for v in report["versions"]}
    for version, option in S_CLIENT_VERSION.items():
        real = handshake(inst.smtps_port, option, "-cipher", "ALL:@SECLEVEL=0") is not None
        assert accepted[version] == real, (version, accepted)
    suites = {s["name"]: s for v in report["versions"] for s in v["suites"]}
    anon = [name for name, s in suites.items() if "anonymous" in s["flags"]]
    assert anon and all(suites[n]["grade"] == "insecure" for n in anon)
    assert any(
        f["topic"] == "ciphers" and "anonymous" in f["text"] and f["severity"] == "fail"
        for f in report["findings"]
    )  # implicit TLS: clients authenticate the server


def test_anonymous_suites_warn_on_mx_and_fail_on_submission(postfix_factory):
    inst = postfix_factory("strict", ANON_ONLY)
    results = run_scenarios(inst, "tls-ciphers", "tls-versions")
    assert results[("tls-ciphers", "mx")]["verdict"] == "warn", results[("tls-ciphers", "mx")]
    mx = results[("tls-ciphers", "mx")]
    assert "opportunistic" in mx["summary"]
    assert any(
        e["text"].startswith("warn: ") and "anonymous suite" in e["text"] and "RFC 7435" in e["text"]
        for e in mx["transcript"]
    )
    assert results[("tls-ciphers", "submission")]["verdict"] == "fail"
    assert results[("tls-ciphers", "smtps")]["verdict"] == "fail"
    assert results[("tls-versions", "mx")]["verdict"] == "pass"
    assert handshake(inst.smtp_port, "-tls1_2", "-cipher", "aNULL:@SECLEVEL=0", starttls=True) is not None


def test_strong_postfix_passes_versions_and_ciphers(postfix_factory):
    inst = postfix_factory("strict", STRONG)
    results = run_scenarios(inst, "tls-versions", "tls-ciphers")
    for role in ("mx", "submission", "smtps"):
        assert results[("tls-versions", role)]["verdict"] == "pass", results[("tls-versions", role)]
        assert results[("tls-ciphers", role)]["verdict"] == "pass", results[("tls-ciphers", role)]
    code, report = scan(inst.smtp_port, "--name", "mx.lab.test")  # the MX role: certificate only warns
    assert code == 0, report["findings"]
    accepted = [v["version"] for v in report["versions"] if v["accepted"]]
    assert accepted == ["TLSv1.2", "TLSv1.3"]
    assert {s["grade"] for v in report["versions"] for s in v["suites"]} == {"strong"}
    assert (
        report["certificate"]["name_matches"] is True and report["certificate"]["key_type"] == "EC secp256r1"
    )
    # The consequences: OpenSSL's client cannot get TLS 1.1 nor a CBC suite, and does get TLS 1.3.
    assert handshake(inst.smtp_port, "-tls1_1", "-cipher", "ALL:@SECLEVEL=0", starttls=True) is None
    assert (
        handshake(inst.smtp_port, "-tls1_2", "-cipher", "AES128-SHA:ECDHE-ECDSA-AES128-SHA", starttls=True)
        is None
    )
    assert handshake(inst.smtp_port, "-tls1_3", starttls=True) is not None


def test_tls_command_on_a_port_without_starttls_or_unreachable(postfix_factory):
    from tests.servers._common import free_port

    run = smtpprobe("tls", "--server", f"127.0.0.1:{free_port()}", "--timeout", "2")
    assert run.code == 3 and run.err_lines == [run.err_lines[0]] and "cannot connect" in run.err
    inst = postfix_factory("strict", {"smtpd_tls_security_level": "none"})
    no_tls = smtpprobe("tls", "--server", f"127.0.0.1:{inst.smtp_port}", "--timeout", "5")
    assert no_tls.code == 12, no_tls.out + no_tls.err
    assert "STARTTLS is not offered" in no_tls.err and "Traceback" not in no_tls.err
