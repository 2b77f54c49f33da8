"""TLS for a probe: handshake, and the facts a user checks (version, cipher, certificate, verification).

By default verification is reported, not enforced: the handshake accepts any certificate, then the chain and
the name are checked separately with `cryptography` so the transcript can say why a certificate would fail.
With `verify=True` OpenSSL enforces both and a bad certificate fails the handshake.

One rule decides "verified" either way: the chain leads to a trusted root and a subjectAltName names the
server (RFC 6125 §6.4: wildcards only as the whole left-most label, matching one label). The subject's CN is
never used: OpenSSL's CN fallback is switched off (RFC 6125 §6.4.4, CA/B Forum baseline: SAN required).
Certificate text comes from outside: it is sanitized before display and bounded (a certificate may carry
thousands of names or escape sequences).
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

from smtpprobe import inputfile, tlsfiles
from smtpprobe.display import clip  # the one display sanitizer
from smtpprobe.errors import Timeout, TLSFailure, UsageError, quote_bytes
from smtpprobe.target import is_ip

SHOWN_NAMES = 10  # names listed in a transcript; the rest are counted (a certificate may carry thousands)
MAX_NAMES_TRIED = 50  # names tried as the chain verification subject before giving up


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
        if self.subject or self.sans:
            subject, issuer = printable(self.subject), printable(self.issuer)
            lines.append(f"TLS peer subject {subject}, issuer {issuer}, expires {self.not_after}")
            lines.append(f"TLS peer names {names_shown(self.sans)}")
        verdict = (
            "verified" if self.chain_verified and self.name_verified else f"NOT verified: {self.verify_error}"
        )
        lines.append(f"TLS certificate {verdict}")
        return lines


@dataclass
class ClientTLS:
    """What the client brings to the handshake beyond the defaults: a certificate, a pinned version, ciphers."""

    cert_file: str | None = None
    key_file: str | None = None
    version: str | None = None  # "TLSv1.2": minimum and maximum both
    ciphers: str | None = None  # OpenSSL cipher list (TLS 1.2 and older; TLS 1.3 suites are not settable)


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """One client context per (CA file, verify), shared by every handshake of the process: creating one
    loads the trust store (set_default_verify_paths, 20-100 ms), which the catalogue's 48 TLS connections
    paid each time. A context is safe to share between threads (wrap_socket makes a new SSL object)."""
    return _new_context(ca_file, verify)


def _new_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    tlsfiles.check_trust_store(ca_file)  # a FIFO would hang OpenSSL's load: one line, exit 2
    context = ssl.create_default_context(cafile=ca_file)
    context.hostname_checks_common_name = False  # the same rule as describe(): subjectAltName only
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def handshake(
    sock: socket.socket, server_name: str | None, verify: bool, timeout: float, ca_file: str | None = None,
    client: ClientTLS | None = None,
) -> tuple[ssl.SSLSocket, TLSInfo]:
    """Wrap a connected socket in TLS (client side). Raises TLSFailure or Timeout.
    `ca_file` replaces the system trust store (a private CA, a test CA)."""
    try:
        # a client certificate, version or cipher pin changes the context: a fresh one, not the shared one
        context = _context(ca_file, verify) if client is None else _configure(_new_context(ca_file, verify), client)
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


def _configure(context: ssl.SSLContext, client: ClientTLS) -> ssl.SSLContext:
    if client.cert_file:
        tlsfiles.check(client.cert_file, "client certificate")
        tlsfiles.check(client.key_file, "client key")
        try:
            context.load_cert_chain(client.cert_file, client.key_file)
        except OSError as exc:
            raise TLSFailure(f"cannot read client certificate {client.cert_file}: {exc.strerror or exc}") from None
        except ssl.SSLError as exc:
            raise TLSFailure(f"client certificate {client.cert_file} or its key is unusable: {_ssl_reason(exc)}") from None
    if client.version:
        version = ssl.TLSVersion[client.version.replace(".", "_")]  # TLSv1.2 -> TLSv1_2
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 at the default level
        context.minimum_version = context.maximum_version = version
    if client.ciphers:
        try:
            context.set_ciphers(client.ciphers)
        except ssl.SSLError:
            raise TLSFailure(f"--tls-cipher {client.ciphers!r}: no cipher OpenSSL knows matches") from None
    return context


def peer_chain_pem(tls_sock: ssl.SSLSocket) -> str:
    """The certificates the server sent, leaf first, as PEM (for --tls-get-peer-chain)."""
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in peer_chain(tls_sock))


def describe(tls_sock: ssl.SSLSocket, server_name: str | None, verified: bool, ca_file: str | None = None) -> TLSInfo:
    name, version, bits = tls_sock.cipher() or ("?", "?", None)
    info = TLSInfo(version=tls_sock.version() or version, cipher=name, bits=bits)
    chain = peer_chain(tls_sock)
    if not chain:
        info.verify_error = "the server sent no certificate"
        return info
    from cryptography import x509  # costs ~90 ms: only when TLS is used

    try:
        certs = [x509.load_der_x509_certificate(der) for der in chain]
        leaf = certs[0]
        info.subject = name_text(leaf.subject)
        info.issuer = name_text(leaf.issuer)
        info.not_after = leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
        info.sans = sans(leaf)
    except ValueError as exc:  # a certificate OpenSSL took but cryptography cannot read
        info.verify_error = f"unreadable certificate: {printable(str(exc))}"
        return info
    if verified:  # OpenSSL already checked chain and name (SAN only, as below) during the handshake
        info.chain_verified = info.name_verified = True
        return info
    info.name_verified = bool(server_name) and name_matches(server_name or "", info.sans)
    info.chain_verified, chain_error = verify_chain(
        certs, ca_file, server_name if info.name_verified else None
    )
    if not info.chain_verified:
        info.verify_error = chain_error
    elif not info.name_verified:
        info.verify_error = f"the certificate does not name {server_name or '(no name given)'}"
    return info


def peer_chain(tls_sock: ssl.SSLSocket) -> list[bytes]:
    # Python 3.13 made get_unverified_chain public; 3.10-3.12 have it on the private _sslobj.
    getter = getattr(tls_sock, "get_unverified_chain", None) or getattr(
        getattr(tls_sock, "_sslobj", None), "get_unverified_chain", None
    )
    if getter is not None:
        chain = getter() or []
        return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    leaf = tls_sock.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def verify_chain(certs: list, ca_file: str | None, name: str | None = None) -> tuple[bool, str | None]:
    """Does the chain lead to a trusted root? `name`: the server's name when the certificate matches it
    (else a name the certificate carries is used: the name itself is judged apart, by name_matches)."""
    from cryptography.x509.verification import PolicyBuilder, VerificationError

    leaf, intermediates = certs[0], certs[1:]
    now = datetime.now(UTC)
    if leaf.not_valid_after_utc < now:
        return False, f"certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}"
    paths = ssl.get_default_verify_paths()
    try:
        trusted, store = _trust_store(ca_file or paths.cafile or paths.openssl_cafile)
    except (OSError, ValueError, UsageError) as exc:
        return False, f"no trust store to verify against ({exc})"
    if leaf in trusted:  # the user trusts this very certificate (pinned, or a self-signed lab's own)
        return True, None
    subject = _verification_subject([name] if name else sans(leaf))
    if subject is None:
        return False, "the certificate has no usable subjectAltName"
    try:
        verifier = PolicyBuilder().store(store).time(now).build_server_verifier(subject)
        verifier.verify(leaf, intermediates)
    except (VerificationError, ValueError) as exc:
        if leaf.issuer == leaf.subject:  # and not itself in the trust store
            return False, "self-signed certificate"
        return False, f"chain does not verify: {printable(str(exc))}"
    return True, None


def _verification_subject(names: list[str]):
    """A DNSName/IPAddress for cryptography's verifier from the first name it accepts. A wildcard SAN
    (`*.example.org`) stands for one of the names it covers: DNSName refuses the `*` itself."""
    from cryptography.x509.verification import DNSName, IPAddress

    for name in names[:MAX_NAMES_TRIED]:
        try:
            if is_ip(name):
                return IPAddress(ipaddress.ip_address(name.strip("[]")))
            return DNSName("wildcard" + name[1:] if name.startswith("*.") else name.rstrip("."))
        except ValueError:
            continue  # an odd or hostile name: try the next
    return None


_store_lock = threading.Lock()


@functools.cache
def _trust_store_unlocked(path: str) -> tuple[list, object]:
    from cryptography import x509
    from cryptography.x509.verification import Store

    data = inputfile.read_file(path, "CA file", tlsfiles.LIMIT)  # a regular file, bounded: never a FIFO
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some system CA certificates carry deprecated encodings
        certs = x509.load_pem_x509_certificates(data)
    return certs, Store(certs)


def _trust_store(path: str) -> tuple[list, object]:
    """The certificates in a PEM bundle, parsed once per process (~20 ms for the system store): a
    catalogue run makes dozens of TLS connections from several threads."""
    with _store_lock:  # one parse, and catch_warnings is not thread-safe
        return _trust_store_unlocked(path)


def sans(cert) -> list[str]:
    """The certificate's DNS names and IP addresses (subjectAltName), as written. Raises ValueError for
    an extension cryptography cannot decode (the caller reports it)."""
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in ext.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    ]


def name_matches(name: str, names: list[str]) -> bool:
    """RFC 6125 §6.4: `name` against the SANs. A wildcard is only the whole left-most label and stands
    for exactly one label (`*.example.org` covers mx.example.org, not example.org nor a.b.example.org);
    an IP address matches only an IP SAN."""
    name = name.strip("[]").lower().rstrip(".")
    if not name:
        return False
    if is_ip(name):
        target = ipaddress.ip_address(name)
        return any(is_ip(n) and ipaddress.ip_address(n.strip("[]")) == target for n in names)
    label, _, parent = name.partition(".")
    for san in (n.lower().rstrip(".") for n in names):
        if san == name:
            return True
        if san.startswith("*.") and parent and label and san[2:] == parent and "*" not in parent:
            return True
    return False


def printable(text: str, limit: int = 200) -> str:
    """Certificate text for a terminal: one line, bounded, every control character, escape sequence and
    bidi override shown visibly escaped (smtpprobe.display). JSON keeps the raw text."""
    return clip(text, limit)


def names_shown(names: list[str], limit: int = SHOWN_NAMES) -> str:
    """'a, b, c and 2997 more' (sanitized)."""
    if not names:
        return "(no subjectAltName)"
    shown = ", ".join(printable(n, 100) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def name_text(name) -> str:
    """A certificate's subject or issuer as RFC 4514 text (raw: display goes through printable())."""
    try:
        return name.rfc4514_string()
    except ValueError:  # an attribute cryptography cannot render
        return "(unreadable name)"




def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None) or str(exc)
    return reason.replace("_", " ").lower() if reason.isupper() else reason


__all__ = [
    "TLSInfo",
    "handshake",
    "name_matches",
    "name_text",
    "names_shown",
    "peer_chain",
    "printable",
    "quote_bytes",
    "sans",
    "verify_chain",
]
