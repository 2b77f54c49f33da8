"""Protocol synchronization in the hardened profile: what a hardened Postfix refuses before it runs a
command line.

* `smtpd_forbid_bare_newline = reject`: a command line ended by a bare LF gets
  `550 5.5.2 HOSTNAME Error: bare <LF> received`.
* `smtpd_forbid_unauth_pipelining = yes` (default from Postfix 3.9): talk before the greeting, a
  command RFC 2920 §3.1 wants last in a group with more input already behind it, or any command
  with input behind it from a client that was not offered PIPELINING (no accepted EHLO) gets
  `554 5.5.0 Error: SMTP protocol synchronization` (instead of the greeting, for early talk).

Either way the command is not run and the lab hangs up, as Postfix 3.7.11 with both settings does.

Pure logic, plus two socket helpers: `socket_pending()` and `discard_pending()`.
"""

from __future__ import annotations

# RFC 2920 §3.1 lists QUIT too; like Postfix the lab answers a QUIT with input behind it 221 and
# hangs up anyway (the input is dropped either way).
MUST_BE_LAST = frozenset({"EHLO", "HELO", "DATA", "VRFY", "EXPN", "TURN", "NOOP"})
SYNC_ERROR = "554 5.5.0 Error: SMTP protocol synchronization"


def bare_lf_reply(hostname: str) -> str:
    return f"550 5.5.2 {hostname} Error: bare <LF> received"


def verb(line: bytes) -> str:
    """The command name of a raw command line, upper-cased ('' if it is not ASCII)."""
    name = line.split(b" ", 1)[0].rstrip(b"\r\n")
    try:
        return name.decode("ascii").upper()
    except UnicodeDecodeError:
        return ""


def verdict(line: bytes, *, pending: bool, pipelining: bool, hostname: str) -> str | None:
    """The refusal for one command line as read (line end included), or None to run it.

    `pending`: more client input was already there behind the line; `pipelining`: PIPELINING was
    offered to this client (an accepted EHLO). The bare LF is judged first, like Postfix.
    (Talk before the greeting is judged at the greeting, with the same SYNC_ERROR.)"""
    if not line.endswith(b"\r\n"):
        return bare_lf_reply(hostname)
    if pending and (not pipelining or verb(line) in MUST_BE_LAST):
        return SYNC_ERROR
    return None


def socket_pending(fileno: int) -> int:
    """Bytes waiting in the kernel's receive queue of a socket (FIONREAD); 0 where that cannot be
    asked (not a POSIX system, a closed socket)."""
    try:
        import fcntl
        import struct
        import termios

        raw = fcntl.ioctl(fileno, termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])
    except (ImportError, OSError, ValueError):
        return 0


def discard_pending(fileno: int, limit: int = 1 << 20) -> None:
    """Read and drop up to `limit` bytes the client sent that nobody read, without waiting. Closing
    a socket with unread input makes the kernel answer with a reset (RST), and a reset can destroy
    the refusal just sent before the client reads it."""
    import os
    import socket

    try:
        dup = socket.socket(fileno=os.dup(fileno))  # the same connection; closing it keeps the original
    except OSError:
        return
    with dup:
        while limit > 0:
            try:
                chunk = dup.recv(min(limit, 65536), socket.MSG_DONTWAIT)
            except (OSError, AttributeError):  # nothing more now (EAGAIN), or no MSG_DONTWAIT here
                return
            if not chunk:
                return
            limit -= len(chunk)
