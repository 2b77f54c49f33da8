"""What one ServerHello says about the features of TLS 1.2 and earlier that a scan judges (pure): secure
renegotiation (RFC 5746), compression (CRIME), heartbeat (RFC 6520).

The question is one ClientHello built with `hello.client_hello(..., features=True)`: renegotiation_info (or,
for SSLv3, the SCSV), DEFLATE before null compression, and the heartbeat extension. A server that supports
RFC 5746 MUST answer with renegotiation_info (§3.6); a server that would compress names DEFLATE; a server with
heartbeats enabled echoes the extension. Nothing more is sent: no heartbeat request (no Heartbleed probe) and
no renegotiation (the handshake is never finished).
"""

from __future__ import annotations

from smtpprobe.tlsscan.hello import (
    ALERTS,
    COMPRESSION,
    EXT_HEARTBEAT,
    EXT_RENEGOTIATION,
    VERSION_NAMES,
    Flight,
)


def read(flight: Flight, version: int) -> dict:
    """{asked_with, secure_renegotiation, compression, heartbeat}, or {asked_with, error} when the server
    did not answer that hello with a ServerHello of `version`."""
    asked = VERSION_NAMES[version]
    hello = flight.hello
    if hello is None or hello.version != version:
        why = (
            f"alert {ALERTS.get(flight.alert[1], flight.alert[1])}"
            if flight.alert
            else flight.error or "no ServerHello"
        )
        return {"asked_with": asked, "error": f"the server did not answer the {asked} hello ({why})"}
    return {
        "asked_with": asked,
        "secure_renegotiation": EXT_RENEGOTIATION in hello.extensions,
        "compression": COMPRESSION.get(hello.compression, str(hello.compression)),
        "heartbeat": EXT_HEARTBEAT in hello.extensions,
    }
