"""Exit codes, defined once. docs/exit-codes.md documents them; keep the two in step."""

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # a check found a problem (run, audit, doctor)
    USAGE = 2  # bad options or bad input file
    NETWORK = 3  # could not connect, timeout, reset, unexpected close
    PROTOCOL = 4  # the server broke the protocol (malformed or oversized reply)
    BANNER = 10  # greeting refused (non-2xx)
    HELO = 11  # EHLO and HELO refused
    TLS = 12  # STARTTLS refused / not offered when required / handshake or verification failed
    AUTH = 13  # authentication refused or impossible
    MAIL = 14  # MAIL FROM refused
    RCPT = 15  # no recipient accepted
    DATA = 16  # DATA refused, or the message refused after the dot
    XCLIENT = 17  # XCLIENT not offered, an attribute not accepted, or refused
    INTERRUPTED = 130
    OUTPUT_CLOSED = 141  # the reader of our output went away (`| head`): 128 + SIGPIPE, as the shell reports
