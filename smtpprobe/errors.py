"""One exception hierarchy. The CLI turns each into one line and an exit code."""

from smtpprobe.exitcodes import Exit


class SmtpProbeError(Exception):
    """Base class. `exit_code` is what the CLI exits with."""

    exit_code: int = Exit.FAILED


class UsageError(SmtpProbeError):
    """Bad options or bad input (a file, a value) from the user."""

    exit_code = Exit.USAGE


class ProtocolError(SmtpProbeError):
    """The peer sent something that is not a valid SMTP reply. Quotes what arrived."""

    exit_code = Exit.PROTOCOL

    def __init__(self, message: str, received: bytes = b""):
        self.received = received
        if received:
            message = f"{message}: {quote_bytes(received)}"
        super().__init__(message)


class TransportError(SmtpProbeError):
    """The connection failed: refused, reset, closed early."""

    exit_code = Exit.NETWORK


class ConnectionClosed(TransportError):
    """The server closed the connection."""


class Timeout(TransportError):
    """A connect, greeting or reply deadline passed."""


class TLSFailure(SmtpProbeError):
    """STARTTLS/implicit TLS could not be set up or verified."""

    exit_code = Exit.TLS


class StageFailure(SmtpProbeError):
    """The server refused a stage of the transaction (banner, ehlo, mail, ...)."""

    def __init__(self, stage: str, message: str, exit_code: int):
        self.stage = stage
        self.exit_code = exit_code
        super().__init__(message)


def quote_bytes(data: bytes, limit: int = 80) -> str:
    """A short, printable quote of raw bytes for error messages."""
    shown = data[:limit]
    text = repr(shown)[1:]  # b'...' -> '...'
    return text + (f" ... ({len(data)} bytes)" if len(data) > limit else "")
