"""The key-exchange groups `smtpprobe tls` reports per version, against real Postfix instances with
`tls_eecdh_auto_curves` restricted, cross-checked with OpenSSL's own client: a group the scan lists at TLS
1.2 completes `openssl s_client -tls1_2 -groups G`, one it does not list ends in a handshake failure.

The bed's certificate is ECDSA P-256, and at TLS 1.2 the supported_groups list also bounds the curve of an
ECDSA certificate (RFC 8422 §4): OpenSSL refuses `-groups X25519` alone although it accepts X25519 for the
key exchange. So the plain one-group cross-check runs on a Postfix given an RSA certificate, and with the
ECDSA one the check offers `G:P-256` (P-256 last, for the certificate) where P-256 itself is not accepted
for ECDHE; with the server's own order and P-256 accepted, the scan says what it cannot know."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from tests.servers._common import unavailable
from tests.test_tls_postfix import scan

OPENSSL_NAMES = {
    "x25519": "X25519",
    "x448": "X448",
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
}
ECDHE_ONLY = {
    "tls_medium_cipherlist": "ECDHE+AESGCM",
    "smtpd_tls_protocols": ">=TLSv1.2",
    "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
}


def s_client(port: int, *options: str) -> str:
    if shutil.which("openssl") is None:
        unavailable("openssl command not installed")
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *options]
    return subprocess.run(args, check=False, input="", capture_output=True, text=True, timeout=20).stdout


def server_temp_key(port: int, *options: str) -> str | None:
    """The key exchange OpenSSL's client got ("X25519", "ECDH, secp384r1"...), None on a failed handshake."""
    for line in s_client(port, *options).splitlines():
        if line.startswith("Server Temp Key: "):
            return line.removeprefix("Server Temp Key: ").rsplit(",", 1)[0].replace("prime256v1", "secp256r1")
    return None


def named(temp_key: str | None) -> str | None:
    """The group name the scan uses for a Server Temp Key line."""
    if temp_key is None:
        return None
    return temp_key.removeprefix("ECDH, ").lower()


def rsa_certificate(directory) -> tuple[str, str]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.servers._certs import self_signed, write_key_pair

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    directory.chmod(0o755)
    cert_path, key_path = directory / "rsa-cert.pem", directory / "rsa-key.pem"
    write_key_pair(self_signed(key, "mx.lab.test"), key, cert_path, key_path)
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


def by_version(report: dict) -> dict[str, dict]:
    return report["groups_by_version"]


def reconfigure(inst, settled, **settings) -> None:
    """Change the running Postfix (its readiness check at start needs the bed's own certificate and a group
    Python's client offers) and wait, bounded, until a new connection shows it: `settled()` true."""
    inst.reconfigure(**settings)
    deadline = time.monotonic() + 15
    while not settled():
        assert time.monotonic() < deadline, "Postfix did not take the new settings"
        time.sleep(0.3)


def test_restricted_curves_with_an_rsa_certificate_match_openssl_group_by_group(postfix_factory, tmp_path):
    cert, key = rsa_certificate(tmp_path)
    inst = postfix_factory("strict", {**ECDHE_ONLY, "tls_eecdh_auto_curves": "secp384r1 X448"})
    rsa = lambda: "Server public key is 2048 bit" in s_client(inst.smtps_port)
    reconfigure(inst, rsa, smtpd_tls_cert_file=cert, smtpd_tls_key_file=key)
    _, report = scan(inst.smtps_port, "--tls-on-connect")
    groups = by_version(report)
    assert sorted(groups["TLSv1.2"]["groups"]) == ["secp384r1", "x448"] and groups["TLSv1.2"]["note"] is None
    assert sorted(groups["TLSv1.3"]["groups"]) == ["secp384r1", "x448"]
    assert report["certificate"]["key_type"].startswith("RSA")
    for group, openssl_name in OPENSSL_NAMES.items():
        for version, option in (("TLSv1.2", "-tls1_2"), ("TLSv1.3", "-tls1_3")):
            got = named(server_temp_key(inst.smtps_port, option, "-groups", openssl_name))
            assert got == (group if group in groups[version]["groups"] else None), (version, group, got)
    assert not [f for f in report["findings"] if "224 bits" in f["text"]]


def test_ecdsa_certificate_curve_kept_in_every_tls12_offer(postfix_factory):
    inst = postfix_factory("strict", {**ECDHE_ONLY, "tls_eecdh_auto_curves": "X25519 secp521r1"})
    _, report = scan(inst.smtps_port, "--tls-on-connect")
    tls12 = by_version(report)["TLSv1.2"]
    assert sorted(tls12["groups"]) == ["secp521r1", "x25519"] and tls12["note"] is None
    for group, openssl_name in OPENSSL_NAMES.items():
        # P-256 goes last in every offer for the certificate, never chosen for ECDHE here
        offer = openssl_name if group == "secp256r1" else f"{openssl_name}:P-256"
        got = named(server_temp_key(inst.smtps_port, "-tls1_2", "-groups", offer))
        assert got == (group if group in tls12["groups"] else None), (group, got)
    # the reason P-256 must be there: without it OpenSSL refuses even a group it accepts
    assert server_temp_key(inst.smtps_port, "-tls1_2", "-groups", "X25519") is None


@pytest.mark.parametrize("preempt", ["yes", "no"])
def test_server_order_and_an_ecdsa_certificate_hide_what_tls12_cannot_ask(postfix_factory, preempt):
    inst = postfix_factory("strict", {**ECDHE_ONLY, "tls_preempt_cipherlist": preempt})
    _, report = scan(inst.smtps_port, "--tls-on-connect")
    tls12, tls13 = by_version(report)["TLSv1.2"], by_version(report)["TLSv1.3"]
    everything = ["secp256r1", "secp384r1", "secp521r1", "x25519", "x448"]  # Postfix's default curves
    assert sorted(tls13["groups"]) == everything
    if preempt == "no":  # the client's order: everything found, and known to be everything
        assert sorted(tls12["groups"]) == everything and tls12["note"] is None
    else:  # its own order, X25519 X448 prime256v1 secp521r1 secp384r1: nothing after P-256 can be asked
        assert tls12["groups"] == ["x25519", "x448", "secp256r1"]
        assert "ranks below secp256r1" in tls12["note"] and "RFC 8422 §4" in tls12["note"]
        # OpenSSL agrees: offered P-384 and the certificate's P-256, the server takes P-256 ...
        assert named(server_temp_key(inst.smtps_port, "-tls1_2", "-groups", "P-384:P-256")) == "secp256r1"
        # ... and P-384 alone fails at TLS 1.2, while TLS 1.3 (no such bound) uses it
        assert server_temp_key(inst.smtps_port, "-tls1_2", "-groups", "P-384") is None
        assert named(server_temp_key(inst.smtps_port, "-tls1_3", "-groups", "P-384")) == "secp384r1"


def test_only_a_curve_under_224_bits_fails(postfix_factory):
    # OpenSSL refuses sect163k1 above security level 0; TLS 1.3 has no such curve, so only TLS 1.2 is left
    inst = postfix_factory("strict", {**ECDHE_ONLY, "tls_medium_cipherlist": "ECDHE+AESGCM:@SECLEVEL=0"})
    weak_only = lambda: server_temp_key(inst.smtps_port, "-tls1_3") is None
    reconfigure(inst, weak_only, tls_eecdh_auto_curves="sect163k1")
    code, report = scan(inst.smtps_port, "--tls-on-connect")
    assert code == 1
    assert by_version(report)["TLSv1.2"]["groups"] == ["sect163k1"]
    weak = [f for f in report["findings"] if "224 bits" in f["text"]]
    assert [f["severity"] for f in weak] == ["fail"] and "RFC 9325 §4.5" in weak[0]["reference"]
    assert weak[0]["text"].startswith("the only curves accepted for ECDHE are under 224 bits: sect163k1")
    level0 = ("-tls1_2", "-cipher", "ECDHE:@SECLEVEL=0")  # OpenSSL's client refuses sect163k1 above it too
    assert server_temp_key(inst.smtps_port, *level0, "-groups", "sect163k1:P-256") == "ECDH, sect163k1"
    assert server_temp_key(inst.smtps_port, *level0, "-groups", "X25519:P-256") is None


def test_dhe_is_the_servers_own_prime_and_the_smallest_is_judged(postfix_factory):
    from tests.test_tls_postfix import WEAK

    inst = postfix_factory("strict", WEAK)
    _, report = scan(inst.smtps_port, "--tls-on-connect")
    # OpenSSL 3 does not negotiate RFC 7919 groups below TLS 1.3: offered only FFDHE groups, it sends its own
    assert by_version(report)["TLSv1.2"]["dhe"] == {"negotiated": False, "prime": None}
    assert report["dh_bits"] == 1024
    dh = next(f for f in report["findings"] if f["text"].startswith("Diffie-Hellman prime"))
    # implicit TLS (clients authenticate the server): RFC 9325 §4.5's REQUIRED 2048 bits, a fail; on the
    # MX port, where TLS is opportunistic (RFC 7435 §1.2), the same prime is a warning
    assert dh["severity"] == "fail" and dh["reference"].startswith("RFC 9325 §4.5")
    _, mx_report = scan(inst.smtp_port, "--starttls")
    mx_dh = next(f for f in mx_report["findings"] if f["text"].startswith("Diffie-Hellman prime"))
    assert mx_dh["severity"] == "warn" and mx_report["dh_bits"] == 1024
    # OpenSSL's client sees both sizes the scan saw; the smaller one is the finding
    level0 = ("-tls1_2", "-groups", "ffdhe2048")  # only FFDHE offered, as the scan's DHE question
    assert "DH, 1024 bits" in s_client(inst.smtps_port, *level0, "-cipher", "ADH-AES128-SHA:@SECLEVEL=0")
    assert "DH, 3072 bits" in s_client(
        inst.smtps_port, *level0, "-cipher", "ADH-AES256-GCM-SHA384:@SECLEVEL=0"
    )
