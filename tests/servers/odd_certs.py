"""An SMTP server (aiosmtpd: STARTTLS and implicit TLS) presenting a certificate the test shapes freely:
wildcard SANs, IP SANs, no SAN at all (CN only), names with escape sequences, thousands of names.

``odd_cert_target(sans=[...], cn="mx.tls.test", signed=True)`` -> OddTarget(starttls_port, implicit_port,
ca_file, cert_file); stopped when the test ends. Names that parse as IP addresses become IP SANs.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers._certs import make_ca, write_key_pair
from tests.servers._common import free_port


@dataclass
class OddTarget:
    starttls_port: int
    implicit_port: int
    ca_file: Path
    cert_file: Path


def make_odd_cert(directory: Path, sans: list[str], cn: str, issuer) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=60))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if sans:
        entries = []
        for name in sans:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                entries.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    stem = directory / f"odd-{x509.random_serial_number() % 10**6}"
    cert_path, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
    write_key_pair(cert, key, cert_path, key_path)
    return cert_path, key_path


@pytest.fixture
def odd_cert_target(tmp_path) -> Iterator:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    controllers = []

    def start(sans: list[str], cn: str = "mx.tls.test", signed: bool = True) -> OddTarget:
        ca_file, ca_cert, ca_key = make_ca(tmp_path)
        cert, key = make_odd_cert(tmp_path, sans, cn, (ca_cert, ca_key) if signed else None)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        starttls = Controller(Sink(), hostname="127.0.0.1", port=free_port(), tls_context=context)
        implicit = Controller(Sink(), hostname="127.0.0.1", port=free_port(), ssl_context=context)
        for controller in (starttls, implicit):
            controller.start()
            controllers.append(controller)
        return OddTarget(starttls.port, implicit.port, ca_file, cert)

    yield start
    for controller in controllers:
        controller.stop()
