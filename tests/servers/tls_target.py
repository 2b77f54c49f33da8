"""A plain aiosmtpd server with STARTTLS and an implicit-TLS listener, with a certificate the test chooses:
for checking what `send` reports about TLS (version, names, chain and name verification)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers._certs import make_ca, make_server_cert
from tests.servers._common import free_port


@dataclass
class TlsTarget:
    starttls_port: int
    implicit_port: int
    ca_file: Path


@pytest.fixture
def tls_target(tmp_path) -> Iterator:
    """tls_target(names=["mx.tls.test"], signed=True) -> TlsTarget, stopped when the test ends."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    controllers = []

    def start(names: list[str], signed: bool = True) -> TlsTarget:
        ca_file, ca_cert, ca_key = make_ca(tmp_path)
        cert, key = make_server_cert(tmp_path, names, (ca_cert, ca_key) if signed else None)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        # aiosmtpd's Controller checks readiness by connecting to its port, so port 0 will not do.
        starttls = Controller(Sink(), hostname="127.0.0.1", port=free_port(), tls_context=context)
        implicit = Controller(Sink(), hostname="127.0.0.1", port=free_port(), ssl_context=context)
        for controller in (starttls, implicit):
            controller.start()
            controllers.append(controller)
        return TlsTarget(starttls.port, implicit.port, ca_file)

    yield start
    for controller in controllers:
        controller.stop()
