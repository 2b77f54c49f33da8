"""Paths handed to OpenSSL (--tls-ca-file, --tls-cert, --tls-key, SMTPPROBE_TLS_CA_FILE, the lab's --cert and
--key, SSL_CERT_FILE): OpenSSL opens them itself and blocks for ever on a FIFO, whatever --timeout says. Each
is one clear line naming the option, exit 2, at once and before any connection; a file over 10 MiB too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smtpprobe import tls
from smtpprobe.exitcodes import Exit
from smtpprobe.tlsscan import mtasts
from tests.cli import smtpprobe
from tests.test_attack_inputs import one_usage_line

KINDS = {"fifo": "a FIFO", "/dev/zero": "a device", "directory": "is a directory"}


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)  # nobody ever writes: opening it for reading would block for ever
    return path


@pytest.fixture
def pem(tmp_path) -> Path:
    path = tmp_path / "good.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")  # a regular file: not judged
    return path


def _path(kind: str, fifo: Path) -> str:
    return {"fifo": str(fifo), "/dev/zero": "/dev/zero", "directory": str(fifo.parent)}[kind]


def _commands(port: int, path: str, pem: str) -> dict[str, tuple[str, list[str], dict]]:
    """name -> (the option the line must name, argv, env); each has a --timeout far above the 5 s asserted."""
    server = f"127.0.0.1:{port}"
    send = ["send", "--server", server, "--to", "a@b.test", "--from", "me@c.test", "--tls-on-connect", "--timeout", "30"]
    return {
        "send --tls-ca-file": ("--tls-ca-file", [*send, "--tls-ca-file", path], {}),
        "send --tls-cert": ("--tls-cert", [*send, "--tls-cert", path], {}),
        "send --tls-key": ("--tls-key", [*send, "--tls-cert", pem, "--tls-key", path], {}),
        "doctor --tls-ca-file": ("--tls-ca-file", ["doctor", "--from", "a@b.test", "--ip", "127.0.0.1", "--helo",
                                                   "x.test", "--server", server, "--timeout", "30",
                                                   "--tls-ca-file", path], {}),
        "tls --tls-ca-file": ("--tls-ca-file", ["tls", "--server", server, "--timeout", "30",
                                                "--tls-ca-file", path], {}),
        "run SMTPPROBE_TLS_CA_FILE": ("SMTPPROBE_TLS_CA_FILE", ["run", "--server", server, "--timeout", "30",
                                                                "--only", "tls-certificate"],
                                      {"SMTPPROBE_TLS_CA_FILE": path}),
        "lab --cert": ("--cert", ["lab", "--port", "0", "--cert", path, "--key", pem], {}),
        "lab --key": ("--key", ["lab", "--port", "0", "--cert", pem, "--key", path], {}),
    }


COMMANDS = list(_commands(0, "", ""))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("command", COMMANDS)
def test_a_path_for_openssl_that_is_not_a_regular_file_is_one_line(attack_server, fifo, pem, command, kind):
    server = attack_server()
    path = _path(kind, fifo)
    option, argv, env = _commands(server.port, path, str(pem))[command]
    run = smtpprobe(*argv, env=env, timeout=30)
    one_usage_line(run, f"{option} {path}: {KINDS[kind]}")  # exit 2, one line, < 5 s, < 100 MB
    assert server.connections == 0  # refused before connecting


@pytest.mark.parametrize("command", COMMANDS)
def test_a_path_for_openssl_over_10_mib_is_one_line(attack_server, tmp_path, pem, command):
    big = tmp_path / "big.pem"
    with big.open("wb") as f:
        f.truncate(11 * 2**20)  # sparse: 11 MiB without using the disk
    server = attack_server()
    option, argv, env = _commands(server.port, str(big), str(pem))[command]
    one_usage_line(smtpprobe(*argv, env=env, timeout=30), f"{option} {big}: 11.0 MiB, more than the 10.0 MiB limit")
    assert server.connections == 0


def test_an_ssl_cert_file_fifo_does_not_hang_the_default_trust_store(attack_server, fifo):
    """No CA option: OpenSSL loads its default store from SSL_CERT_FILE (burst's TLS context, send without
    --tls-ca-file): the same hang, checked where the context is made."""
    server = attack_server()
    run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "--tls-on-connect", "-n", "1",
                    "--timeout", "30", env={"SSL_CERT_FILE": str(fifo)}, timeout=30)
    one_usage_line(run, f"SSL_CERT_FILE {fifo}: a FIFO")
    assert server.connections == 0


@pytest.mark.timeout(10)
def test_the_loaders_behind_the_options_refuse_a_fifo_too(fifo):
    """What the run's TLS scans and the MTA-STS fetch call with SMTPPROBE_TLS_CA_FILE (also from the pytest
    plugin, which has no command line to check it): a finding, not a hang."""
    from cryptography import x509

    lab_cert = x509.load_pem_x509_certificate(_self_signed())
    verified, why = tls.verify_chain([lab_cert], str(fifo))
    assert not verified and f"CA file {fifo}: a FIFO" in (why or "")
    body, why = mtasts.fetch("example.test", "127.0.0.1", 1.0, str(fifo))
    assert body is None and f"CA file {fifo}: a FIFO" in (why or "")
    with pytest.raises(Exception, match="a FIFO") as caught:
        tls._new_context(str(fifo), verify=True)
    assert getattr(caught.value, "exit_code", None) == Exit.USAGE


def _self_signed() -> bytes:
    import tempfile

    from smtpprobe.lab.tlscert import generate_self_signed

    with tempfile.TemporaryDirectory() as directory:
        cert, _ = generate_self_signed("mx.lab.test", Path(directory))
        return cert.read_bytes()
