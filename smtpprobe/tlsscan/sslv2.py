"""SSL 2.0 CLIENT-HELLO builder and answer parser: bytes in, bytes and a verdict out, no sockets.

SSLv2 has its own record and hello format, so the TLS hellos of hello.py cannot ask about it. The layout is
the SSL 2.0 specification's (Hickman, draft-hickman-netscape-ssl-00, Feb. 1995): §1.1 the record header
(two bytes, high bit set, or three with padding), §2.5 CLIENT-HELLO, §2.6 SERVER-HELLO, §2.7 ERROR,
Appendix C the codes.
A server that answers with a SERVER-HELLO speaks SSLv2, which RFC 6176 §3 forbids ("TLS servers MUST NOT
reply with an SSL 2.0 SERVER-HELLO ... and instead MUST abort the connection") and which DROWN
(CVE-2016-0800) turns into a way to decrypt the same key's TLS sessions. Anything else — a TLS alert, a TLS
record, an SSLv2 ERROR, a hang-up, silence, garbage — is a refusal. No key is ever computed: the scan reads
the SERVER-HELLO and hangs up.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

SSL2 = 0x0002
CLIENT_HELLO, SERVER_HELLO, ERROR = 1, 4, 0
MAX_RECORD = 0x7FFF  # §1.2: 32767 bytes with a two-byte header (16383 with three)

# Appendix C.4 CIPHER-KIND values (3 bytes each), then two that implementations added (OpenSSL's ssl2.h).
CIPHERS: dict[int, str] = {
    0x010080: "SSL_CK_RC4_128_WITH_MD5",
    0x020080: "SSL_CK_RC4_128_EXPORT40_WITH_MD5",
    0x030080: "SSL_CK_RC2_128_CBC_WITH_MD5",
    0x040080: "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5",
    0x050080: "SSL_CK_IDEA_128_CBC_WITH_MD5",
    0x060040: "SSL_CK_DES_64_CBC_WITH_MD5",
    0x0700C0: "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
    0x080080: "SSL_CK_RC4_64_WITH_MD5",
    0x000000: "SSL_CK_NULL_WITH_MD5",
}
ERRORS = {
    0x0000: "UNDEFINED-ERROR",
    0x0001: "NO-CIPHER-ERROR",
    0x0002: "NO-CERTIFICATE-ERROR",
    0x0004: "BAD-CERTIFICATE-ERROR",
    0x0006: "UNSUPPORTED-CERTIFICATE-TYPE-ERROR",
}


def client_hello(ciphers: list[int] | None = None) -> bytes:
    """One SSLv2 record (two-byte header) holding a CLIENT-HELLO for version 2 only (§2.5): every cipher kind,
    no session id, a 16-byte challenge. Version 2 and nothing higher, so a TLS server cannot answer it with
    TLS (RFC 6176 §3: it must abort)."""
    kinds = list(CIPHERS) if ciphers is None else ciphers
    specs = b"".join(k.to_bytes(3, "big") for k in kinds)
    challenge = os.urandom(16)
    body = struct.pack("!BHHHH", CLIENT_HELLO, SSL2, len(specs), 0, len(challenge)) + specs + challenge
    return struct.pack("!H", 0x8000 | len(body)) + body


@dataclass
class ServerHello:
    version: int
    ciphers: list[int] = field(default_factory=list)  # the cipher kinds the server accepts of those offered
    certificate: bytes = b""
    session_id_hit: bool = False


@dataclass
class Answer:
    """What the server answered to the CLIENT-HELLO, as far as it was read."""

    hello: ServerHello | None = None  # SSLv2 spoken: a SERVER-HELLO
    alert: tuple[int, int] | None = None  # a TLS alert record instead (level, description)
    error: str | None = None  # any other answer, or none, in words
    done: bool = False


class AnswerParser:
    """Fed the server's bytes; says when it has enough: one SSLv2 record, or the start of a TLS one."""

    def __init__(self) -> None:
        self.flight = Answer()  # `flight`: the name probe.ask reads
        self._data = b""

    def feed(self, data: bytes) -> Answer:
        if self.flight.done:
            return self.flight
        self._data += data
        if len(self._data) > 3 + MAX_RECORD:
            return self._stop("more bytes than one SSLv2 record")
        if len(self._data) >= 3 and self._data[0] in (20, 21, 22, 23) and self._data[1] == 3:
            return self._tls_record()
        if len(self._data) < 3:
            return self.flight
        b0, b1 = self._data[0], self._data[1]
        if b0 & 0x80:  # §1.1: two-byte header, no padding
            start, length, padding = 2, ((b0 & 0x7F) << 8) | b1, 0
        else:  # three-byte header: padding count in the third byte; 0x40 would be a security escape
            start, length, padding = 3, ((b0 & 0x3F) << 8) | b1, self._data[2]
            if b0 & 0x40:
                return self._stop(f"not an SSLv2 answer (bytes {self._data[:3].hex()})")
        if len(self._data) < start + length:
            return self.flight
        if padding >= length:  # no message left
            return self._stop(f"not an SSLv2 answer (bytes {self._data[:3].hex()})")
        self._message(self._data[start : start + length - padding])
        self.flight.done = True
        return self.flight

    def _tls_record(self) -> Answer:
        """A TLS record: the server parsed the SSLv2-format hello as a TLS one, or just refuses in TLS."""
        kind = self._data[0]
        if kind == 21:
            if len(self._data) < 7:
                return self.flight
            self.flight.alert = (self._data[5], self._data[6])
            self.flight.done = True
            return self.flight
        return self._stop(f"a TLS record (type {kind}) instead of an SSLv2 SERVER-HELLO")

    def _message(self, msg: bytes) -> None:
        kind = msg[0]
        if kind == ERROR:
            code = struct.unpack("!H", msg[1:3])[0] if len(msg) >= 3 else None
            self.flight.error = f"SSLv2 ERROR {ERRORS.get(code, code) if code is not None else '(truncated)'}"
        elif kind == SERVER_HELLO:
            hello = parse_server_hello(msg)
            if hello is None:
                self.flight.error = "a malformed SSLv2 SERVER-HELLO"
            else:
                self.flight.hello = hello
        else:
            self.flight.error = f"an SSLv2 message of type {kind} instead of a SERVER-HELLO"

    def _stop(self, error: str) -> Answer:
        self.flight.error, self.flight.done = error, True
        return self.flight


def parse_server_hello(msg: bytes) -> ServerHello | None:
    """§2.6 SERVER-HELLO (the message, type byte first), or None when its lengths do not add up or its
    version is not 2 (then it is not an SSLv2 SERVER-HELLO whatever its first byte says)."""
    if len(msg) < 11:
        return None
    _, hit, _cert_type, version, cert_len, specs_len, cid_len = struct.unpack("!BBBHHHH", msg[:11])
    if version != SSL2 or specs_len % 3 or 11 + cert_len + specs_len + cid_len != len(msg):
        return None
    specs = msg[11 + cert_len : 11 + cert_len + specs_len]
    return ServerHello(
        version=version,
        ciphers=[int.from_bytes(specs[i : i + 3], "big") for i in range(0, specs_len, 3)],
        certificate=msg[11 : 11 + cert_len],
        session_id_hit=bool(hit),
    )


def cipher_name(kind: int) -> str:
    return CIPHERS.get(kind, f"SSL_CK_0x{kind:06X}")


def cipher_flags(name: str) -> list[str]:
    """What is wrong with an SSLv2 cipher kind besides SSLv2 itself: grade.py's words. Every one is RSA key
    transport (no forward secrecy) with an MD5 MAC."""
    flags = [word for word in ("NULL", "EXPORT", "RC4", "RC2", "IDEA") if word in name]
    flags += ["3DES"] if "EDE3" in name else ["DES"] if "_DES_" in name else []
    return [*flags, "no forward secrecy"]
