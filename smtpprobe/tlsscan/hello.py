"""TLS ClientHello builder and server-flight parser: bytes in, bytes and events out, no sockets.

Only what a scan needs (RFC 5246 §7.4, RFC 8446 §4.1): a ClientHello for one protocol version offering
many suites at once, and the server's answer up to its ServerHello (suite, compression method, extensions),
plus the TLS 1.2 ServerKeyExchange for the key-exchange group. No key is ever computed: the scan never
finishes a handshake with these bytes.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field

from smtpprobe.target import is_ip
from smtpprobe.tlsscan.groups import LEGACY_OFFER, key_exchange

SSL2, SSL3, TLS10, TLS11, TLS12, TLS13 = 0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304
# SSLv2 has another record format: sslv2.py asks about it, client_hello() below never does.
VERSION_NAMES = {
    SSL2: "SSLv2",
    SSL3: "SSLv3",
    TLS10: "TLSv1.0",
    TLS11: "TLSv1.1",
    TLS12: "TLSv1.2",
    TLS13: "TLSv1.3",
}
RECORD_VERSIONS = (SSL3, TLS10, TLS11, TLS12, TLS13)  # the versions a TLS-format ClientHello asks for

HANDSHAKE, ALERT = 22, 21
SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE, SERVER_HELLO_DONE = 2, 11, 12, 14
# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()

EXT_SERVER_NAME, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS = 0, 10, 11, 13
EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE, EXT_RENEGOTIATION, EXT_HEARTBEAT = 43, 51, 0xFF01, 15
# TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3): how an SSLv3 hello, which has no extensions, asks
RENEGOTIATION_SCSV = 0x00FF
DEFLATE = 1
COMPRESSION = {0: "null", DEFLATE: "DEFLATE", 64: "LZS"}  # RFC 3749, RFC 3943

X25519 = 29
# RFC 8422, RFC 7919, RFC 8446 §4.2.7: name per code point.
GROUPS: dict[int, str] = {
    19: "secp192r1",
    21: "secp224r1",
    22: "secp256k1",
    23: "secp256r1",
    24: "secp384r1",
    25: "secp521r1",
    26: "brainpoolP256r1",
    27: "brainpoolP384r1",
    28: "brainpoolP512r1",
    29: "x25519",
    30: "x448",
    0x100: "ffdhe2048",
    0x101: "ffdhe3072",
    0x102: "ffdhe4096",
    0x103: "ffdhe6144",
    0x104: "ffdhe8192",
}
# ECDSA, RSA-PSS, RSA PKCS#1 and EdDSA with SHA-2, then the SHA-1 ones old servers need.
SIG_ALGS = (
    0x0403,
    0x0503,
    0x0603,
    0x0804,
    0x0805,
    0x0806,
    0x0401,
    0x0501,
    0x0601,
    0x0807,
    0x0808,
    0x0201,
    0x0203,
    0x0303,
    0x0301,
    0x0402,
    0x0202,
)
MAX_FLIGHT = 64 * 1024  # bytes of the server's flight kept before giving up (a certificate chain fits)


def client_hello(
    version: int,
    suites: list[int],
    server_name: str | None = None,
    groups: list[int] | None = None,
    key_share: bool = True,
    features: bool = False,
) -> bytes:
    """One TLS record holding a ClientHello for exactly `version`, offering `suites` (in that order).

    TLS 1.3 is asked for with supported_versions; `key_share=False` sends an empty key_share list so
    the server answers with a HelloRetryRequest naming its group (a scan learns the group without keys).
    `groups` by default: GROUPS for TLS 1.3, every curve and FFDHE group below (groups.LEGACY_OFFER).
    With key_share, a random X25519 share: any 32 bytes are a valid public value (RFC 7748 §5).
    Every hello up to TLS 1.2 asks for secure renegotiation (RFC 5746 §3.4: the extension, or for SSLv3 the
    SCSV). `features` (up to TLS 1.2) also offers DEFLATE before null compression and the heartbeat
    extension (RFC 6520 §2, mode peer_not_allowed_to_send: we never answer a heartbeat): the ServerHello
    says whether the server would use them."""
    groups = list(groups if groups is not None else GROUPS if version >= TLS13 else LEGACY_OFFER)
    legacy = min(version, TLS12)
    features = features and version < TLS13  # RFC 8446 §4.1.2: a TLS 1.3 hello offers null compression only
    if version == SSL3 and RENEGOTIATION_SCSV not in suites:
        suites = [*suites, RENEGOTIATION_SCSV]
    exts = b""
    if version >= TLS10:
        name = _sni(server_name)
        if name:
            exts += _ext(EXT_SERVER_NAME, _vec(_u8(0) + _vec(name, 2), 2))
        exts += _ext(EXT_GROUPS, _vec(b"".join(_u16(g) for g in groups), 2))
        exts += _ext(EXT_POINT_FORMATS, _vec(b"\x00", 1))
        exts += _ext(EXT_SIG_ALGS, _vec(b"".join(_u16(a) for a in SIG_ALGS), 2))
        exts += _ext(EXT_RENEGOTIATION, b"\x00")
        if features:
            exts += _ext(EXT_HEARTBEAT, b"\x02")
    if version >= TLS13:
        exts += _ext(EXT_SUPPORTED_VERSIONS, _vec(_u16(TLS13), 1))
        share = _u16(X25519) + _vec(os.urandom(32), 2) if key_share and X25519 in groups else b""
        exts += _ext(EXT_KEY_SHARE, _vec(share, 2))
    body = (
        _u16(legacy)
        + os.urandom(32)
        + _vec(os.urandom(32) if version >= TLS13 else b"", 1)
        + _vec(b"".join(_u16(s) for s in suites), 2)
        + _vec(bytes([DEFLATE, 0]) if features else b"\x00", 1)
        + (_vec(exts, 2) if exts else b"")
    )
    handshake = bytes([1]) + len(body).to_bytes(3, "big") + body
    # Record version 0x0301 for TLS 1.x (RFC 8446 §5.1: what middleboxes expect); SSLv3 records say 0x0300.
    return bytes([HANDSHAKE]) + _u16(SSL3 if version == SSL3 else TLS10) + _vec(handshake, 2)


@dataclass
class ServerHello:
    version: int  # the negotiated version (supported_versions when present)
    suite: int
    retry: bool = False  # a HelloRetryRequest (TLS 1.3)
    group: int | None = None  # key_share's group (TLS 1.3)
    compression: int = 0  # the compression method chosen (0: null)
    extensions: list[int] = field(default_factory=list)  # the extension types, in the order sent


@dataclass
class Flight:
    """What the server answered, as far as it was read."""

    hello: ServerHello | None = None
    alert: tuple[int, int] | None = None  # (level, description)
    group: int | None = None  # TLS 1.2 ECDHE: the named curve of the ServerKeyExchange
    dh_bits: int | None = None  # TLS 1.2 DHE: the size of the prime
    dh_prime: bytes | None = None  # ... and the prime itself (an RFC 7919 group or the server's own)
    leaf: bytes | None = None  # the first certificate of the Certificate message (DER), when read
    done: bool = False  # nothing more is needed from this server
    error: str | None = None  # not TLS, or a malformed message
    seen: list[int] = field(default_factory=list)  # handshake message types, in order


class FlightParser:
    """Fed the server's bytes; says when it has enough. Bounded: MAX_FLIGHT bytes at most."""

    def __init__(self, want_key_exchange: bool = False):
        self.flight = Flight()
        self._records = b""
        self._handshake = b""
        self._total = 0
        self._want_kx = want_key_exchange

    def feed(self, data: bytes) -> Flight:
        self._total += len(data)
        if self._total > MAX_FLIGHT:
            self._stop("the server's first flight is larger than 64 KiB")
            return self.flight
        self._records += data
        while not self.flight.done and len(self._records) >= 5:
            kind, length = self._records[0], struct.unpack("!H", self._records[3:5])[0]
            if kind not in (HANDSHAKE, ALERT, 20, 23) or self._records[1] != 3 or length > 18432:
                self._stop(f"not a TLS answer (record type {kind}, bytes {self._records[:5].hex()})")
                break
            if len(self._records) < 5 + length:
                break
            payload, self._records = self._records[5 : 5 + length], self._records[5 + length :]
            if kind == ALERT and len(payload) >= 2:
                self.flight.alert = (payload[0], payload[1])
                self.flight.done = True
            elif kind == HANDSHAKE:
                self._handshake += payload
                self._messages()
            else:  # ChangeCipherSpec (TLS 1.3 compatibility) or encrypted data: the hello has passed
                self.flight.done = self.flight.hello is not None or self.flight.done
        return self.flight

    def _messages(self) -> None:
        while len(self._handshake) >= 4 and not self.flight.done:
            kind, length = self._handshake[0], int.from_bytes(self._handshake[1:4], "big")
            if len(self._handshake) < 4 + length:
                return
            body, self._handshake = self._handshake[4 : 4 + length], self._handshake[4 + length :]
            self.flight.seen.append(kind)
            try:
                self._message(kind, body)
            except (IndexError, struct.error, ValueError):
                self._stop(f"malformed handshake message (type {kind})")

    def _message(self, kind: int, body: bytes) -> None:
        if kind == SERVER_HELLO:
            self.flight.hello = parse_server_hello(body)
            tls13 = self.flight.hello.version >= TLS13 or self.flight.hello.retry
            self.flight.done = tls13 or not self._want_kx
        elif kind == CERTIFICATE and len(body) >= 6:
            first = int.from_bytes(body[3:6], "big")  # certificate_list<3>, then each certificate<3>
            self.flight.leaf = body[6 : 6 + first] or None
        elif kind == SERVER_KEY_EXCHANGE:
            self._key_exchange(body)
            self.flight.done = True
        elif kind == SERVER_HELLO_DONE:
            self.flight.done = True

    def _key_exchange(self, body: bytes) -> None:
        """The suite says which structure it is: a DH prime of 768 bytes (6144 bits) starts with 0x03 too."""
        kex = key_exchange(_suite_name(self.flight.hello.suite)) if self.flight.hello else None
        if kex == "ecdhe" and body[0] == 3:  # ECParameters: named_curve (RFC 8422 §5.4)
            self.flight.group = struct.unpack("!H", body[1:3])[0]
        elif kex == "dhe":  # ServerDHParams: dh_p<1..2^16-1> first (RFC 5246 §7.4.3)
            p_len = struct.unpack("!H", body[0:2])[0]
            p = body[2 : 2 + p_len].lstrip(b"\x00")
            self.flight.dh_prime = p or None
            self.flight.dh_bits = int.from_bytes(p, "big").bit_length() if p else None

    def _stop(self, error: str) -> None:
        self.flight.error, self.flight.done = error, True


def parse_server_hello(body: bytes) -> ServerHello:
    version = struct.unpack("!H", body[0:2])[0]
    random = body[2:34]
    sid_len = body[34]
    pos = 35 + sid_len
    suite, compression = struct.unpack("!HB", body[pos : pos + 3])
    pos += 3
    hello = ServerHello(version=version, suite=suite, retry=random == HRR_RANDOM, compression=compression)
    if pos + 2 <= len(body):
        end = pos + 2 + struct.unpack("!H", body[pos : pos + 2])[0]
        pos += 2
        while pos + 4 <= end:
            ext, length = struct.unpack("!HH", body[pos : pos + 4])
            data = body[pos + 4 : pos + 4 + length]
            hello.extensions.append(ext)
            if ext == EXT_SUPPORTED_VERSIONS and length == 2:
                hello.version = struct.unpack("!H", data)[0]
            elif ext == EXT_KEY_SHARE and length >= 2:
                hello.group = struct.unpack("!H", data[0:2])[0]
            pos += 4 + length
    return hello


ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    47: "illegal_parameter",
    50: "decode_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    109: "missing_extension",
    112: "unrecognized_name",
}


def _sni(server_name: str | None) -> bytes | None:
    """The SNI host name (RFC 6066 §3): ASCII (A-labels), never an address; None when there is none to send."""
    if not server_name or is_ip(server_name):
        return None
    try:
        name = server_name.rstrip(".").encode("idna")
    except UnicodeError:
        return None
    return name if 0 < len(name) <= 253 else None


def _suite_name(code: int) -> str:
    from smtpprobe.tlsscan.registry import SUITES

    return SUITES.get(code, "")


def _u8(n: int) -> bytes:
    return bytes([n])


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _vec(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "big") + data


def _ext(kind: int, data: bytes) -> bytes:
    return _u16(kind) + _vec(data, 2)
