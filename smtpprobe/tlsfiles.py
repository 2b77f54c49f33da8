"""Files handed to OpenSSL (a CA bundle, a client or lab certificate and its key): checked as input files
first (smtpprobe.inputfile: a regular file, of a bounded size).

OpenSSL opens these paths itself and blocks: a FIFO hangs it for ever (no timeout applies), a device or a
huge file is read without end. So each path is checked before OpenSSL is given it: one line, exit 2, at
once. OpenSSL then opens the path again (Python's ssl takes a certificate chain only by name), so a file
swapped for a FIFO between the two is not caught: only someone who can already write there can do that.
"""

from __future__ import annotations

import os

from smtpprobe import inputfile

# Every public root in one PEM bundle is ~220 KiB (Debian's ca-certificates.crt), a chain and a key a few
# KiB: 10 MiB takes a bundle forty times that and still bounds what a read of it holds in memory.
LIMIT = 10 * inputfile.MIB

CA_ENV = "SMTPPROBE_TLS_CA_FILE"  # run's CA bundle: the TLS scans and the MTA-STS policy fetch


def check(path: str | None, what: str) -> None:
    """Refuse PATH (when given) in one line naming WHAT unless it is a regular file within LIMIT."""
    if path:
        inputfile.check(path, what, LIMIT)


def check_env_ca() -> None:
    check(os.environ.get(CA_ENV), CA_ENV)


def check_trust_store(ca_file: str | None) -> None:
    """Before a context loads its trust store: CA_FILE, or without one the SSL_CERT_FILE that OpenSSL
    reads for the default store (the same hang, from the environment)."""
    if ca_file:
        check(ca_file, "CA file")
    else:
        check(os.environ.get("SSL_CERT_FILE"), "SSL_CERT_FILE")
