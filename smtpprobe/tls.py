"""TLS for a probe: handshake, and the facts a user checks (version, cipher, certificate, verification).

By default verification is reported, not enforced: the handshake accepts any certificate, then the chain and
the name are checked separately with `cryptography` so the transcript can say why a certificate would fail.
With `verify=True` OpenSSL enforces both and a bad certificate fails the handshake.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from smtpprobe.errors import Timeout, TLSFailure, quote_bytes


@dataclass
class TLSInfo:
    version: str
    cipher: str
    bits: int | None
    subject: str = ""
    issuer: str = ""
    sans: list[str] = field(default_factory=list)
    not_after: str = ""
    chain_verified: bool = False
    name_verified: bool = False
    verify_error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def summary_lines(self) -> list[str]:
        lines = [f"TLS started with cipher {self.version}:{self.cipher}:{self.bits}"]
        if self.subject:
            lines.append(f"TLS peer subject {self.subject}, issuer {self.issuer}, expires {self.not_after}")
            lines.append(f"TLS peer names {', '.join(self.sans) or '(no subjectAltName)'}")
        verdict = (
            "verified" if self.chain_verified and self.name_verified else f"NOT verified: {self.verify_error}"
        )
        lines.append(f"TLS certificate {verdict}")
        return lines


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """One client context per (CA file, verify), shared by every handshake of the process: creating one
    loads the trust store (set_default_verify_paths, 20-100 ms), which the catalogue's 48 TLS connections
    paid each time. A context is safe to share between threads (wrap_socket makes a new SSL object)."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def handshake(
    sock: socket.socket, server_name: str | None, verify: bool, timeout: float, ca_file: str | None = None
) -> tuple[ssl.SSLSocket, TLSInfo]:
    """Wrap a connected socket in TLS (client side). Raises TLSFailure or Timeout.
    `ca_file` replaces the system trust store (a private CA, a test CA)."""
    try:
        context = _context(ca_file, verify)
    except OSError as exc:
        raise TLSFailure(f"cannot read CA file {ca_file}: {exc.strerror or exc}") from None
    except ssl.SSLError as exc:
        raise TLSFailure(f"CA file {ca_file} holds no usable certificate: {_ssl_reason(exc)}") from None
    sock.settimeout(timeout)
    try:  # Python sends no SNI when server_hostname is an IP address, and matches it against IP SANs
        tls_sock = context.wrap_socket(sock, server_hostname=server_name.strip("[]") if server_name else None)
    except ssl.SSLCertVerificationError as exc:
        raise TLSFailure(f"TLS certificate verification failed: {exc.verify_message}") from None
    except TimeoutError:
        raise Timeout(f"TLS handshake did not finish within {timeout:g}s") from None
    except ssl.SSLError as exc:
        raise TLSFailure(f"TLS handshake failed: {_ssl_reason(exc)}") from None
    except OSError as exc:
        raise TLSFailure(f"TLS handshake failed: connection {exc.strerror or exc}") from None
    return tls_sock, describe(tls_sock, server_name, verified=verify, ca_file=ca_file)


def describe(
    tls_sock: ssl.SSLSocket, server_name: str | None, verified: bool, ca_file: str | None = None
) -> TLSInfo:
    name, version, bits = tls_sock.cipher() or ("?", "?", None)
    info = TLSInfo(version=tls_sock.version() or version, cipher=name, bits=bits)
    chain = _peer_chain(tls_sock)
    if not chain:
        info.verify_error = "the server sent no certificate"
        return info
    from cryptography import x509  # costs ~90 ms: only when TLS is used

    certs = [x509.load_der_x509_certificate(der) for der in chain]
    leaf = certs[0]
    info.subject = leaf.subject.rfc4514_string()
    info.issuer = leaf.issuer.rfc4514_string()
    info.not_after = leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    info.sans = _sans(leaf)
    if verified:  # OpenSSL already checked chain and name during the handshake
        info.chain_verified = info.name_verified = True
        return info
    info.name_verified = bool(server_name) and _name_matches(server_name, info.sans)
    info.chain_verified, chain_error = _verify_chain(certs, ca_file)
    if not info.chain_verified:
        info.verify_error = chain_error
    elif not info.name_verified:
        info.verify_error = f"the certificate does not name {server_name or '(no name given)'}"
    return info


def _peer_chain(tls_sock: ssl.SSLSocket) -> list[bytes]:
    # Python 3.13 made get_unverified_chain public; 3.10-3.12 have it on the private _sslobj.
    getter = getattr(tls_sock, "get_unverified_chain", None) or getattr(
        getattr(tls_sock, "_sslobj", None), "get_unverified_chain", None
    )
    if getter is not None:
        chain = getter() or []
        return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    leaf = tls_sock.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _verify_chain(certs: list, ca_file: str | None) -> tuple[bool, str | None]:
    from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, VerificationError

    leaf, intermediates = certs[0], certs[1:]
    now = datetime.now(UTC)
    if leaf.not_valid_after_utc < now:
        return False, f"certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}"
    paths = ssl.get_default_verify_paths()
    try:
        trusted, store = _trust_store(ca_file or paths.cafile or paths.openssl_cafile)
    except (OSError, ValueError) as exc:
        return False, f"no trust store to verify against ({exc})"
    if leaf in trusted:  # the user trusts this very certificate (pinned, or a self-signed lab's own)
        return True, None
    # The name is checked apart (_name_matches), so verify the chain for a name the certificate carries.
    names = _sans(leaf)
    if not names:
        return False, "the certificate has no subjectAltName"
    first = names[0]
    subject = IPAddress(ipaddress.ip_address(first)) if _is_ip(first) else DNSName(first)
    try:
        verifier = PolicyBuilder().store(store).time(now).build_server_verifier(subject)
        verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        if leaf.issuer == leaf.subject:  # and not itself in the trust store
            return False, "self-signed certificate"
        return False, f"chain does not verify: {exc}"
    return True, None


_store_lock = threading.Lock()


@functools.cache
def _trust_store_unlocked(path: str) -> tuple[list, object]:
    from cryptography import x509
    from cryptography.x509.verification import Store

    with open(path, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some system CA certificates carry deprecated encodings
        certs = x509.load_pem_x509_certificates(f.read())
    return certs, Store(certs)


def _trust_store(path: str) -> tuple[list, object]:
    """The certificates in a PEM bundle, parsed once per process (~20 ms for the system store): a
    catalogue run makes dozens of TLS connections from several threads."""
    with _store_lock:  # one parse, and catch_warnings is not thread-safe
        return _trust_store_unlocked(path)


def _sans(cert) -> list[str]:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in ext.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    ]


def _name_matches(name: str, sans: list[str]) -> bool:
    name = name.lower().rstrip(".")
    for san in (s.lower() for s in sans):
        if san == name or (san.startswith("*.") and "." in name and name.split(".", 1)[1] == san[2:]):
            return True
    return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None) or str(exc)
    return reason.replace("_", " ").lower() if reason.isupper() else reason


__all__ = ["TLSInfo", "handshake", "quote_bytes"]
