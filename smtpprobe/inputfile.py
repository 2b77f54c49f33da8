"""Files the user names (--data, --attach, --message, --target, scenario files, /data): regular files only,
of a bounded size, read without hanging.

A FIFO would block the open or the read for ever, /dev/zero never ends, a directory is an obscure error:
each is refused in one line. The file is opened non-blocking and checked on the open descriptor (fstat),
so nothing swapped in between the check and the read slips through. A message can be streamed in chunks
(`chunks`) so a large --data never sits in memory whole.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator

from smtpprobe.errors import UsageError

MIB = 2**20
DEFAULT_LIMIT = 50 * MIB  # --max-file-size raises it
CONFIG_LIMIT = 1 * MIB  # a target profile or scenario file: text a person wrote
CHUNK = 64 * 1024


def _size_text(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


def open_checked(path: str, what: str, limit: int, raise_with: str | None = None) -> tuple[int, int]:
    """(file descriptor, size) of PATH opened for reading, after the checks; the caller closes it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{what} {path}: is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode) or \
                stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file"
            raise UsageError(f"{what} {path}: {kind}; give a regular file")
        if info.st_size > limit:
            hint = f" (raise it with {raise_with})" if raise_with else ""
            raise UsageError(f"{what} {path}: {_size_text(info.st_size)}, more than the {_size_text(limit)} limit{hint}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def check(path: str, what: str, limit: int, raise_with: str | None = None) -> int:
    """The size of PATH after the checks, for a path another library opens itself (OpenSSL's loaders)."""
    fd, size = open_checked(path, what, limit, raise_with)
    os.close(fd)
    return size


def read_file(path: str, what: str, limit: int = DEFAULT_LIMIT, raise_with: str | None = None) -> bytes:
    """The whole of a checked file (a file that grows while read is cut at the limit and refused)."""
    fd, _ = open_checked(path, what, limit, raise_with)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{what} {path}: more than the {_size_text(limit)} limit")
    return data


def read_text(path: str, what: str, limit: int = CONFIG_LIMIT) -> str:
    data = read_file(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path}: not UTF-8 (byte {exc.start})") from None


def read_stdin(what: str, limit: int = DEFAULT_LIMIT, raise_with: str | None = None) -> bytes:
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        hint = f" (raise it with {raise_with})" if raise_with else ""
        raise UsageError(f"{what} -: standard input is more than the {_size_text(limit)} limit{hint}")
    return data


class FileMessage:
    """A message to send from a file, read chunk by chunk when DATA is reached. A plain class, not a dataclass:
    `dataclasses` imports `inspect`, ~6 ms of a whole `send`."""

    __slots__ = ("limit", "path", "size")

    def __init__(self, path: str, size: int, limit: int = DEFAULT_LIMIT):
        self.path, self.size, self.limit = path, size, limit

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileMessage) and (self.path, self.size, self.limit) == (
            other.path, other.size, other.limit)

    def __hash__(self) -> int:
        return hash((self.path, self.size, self.limit))

    def __repr__(self) -> str:
        return f"FileMessage(path={self.path!r}, size={self.size!r}, limit={self.limit!r})"

    @classmethod
    def checked(cls, path: str, what: str = "--data", limit: int = DEFAULT_LIMIT,
                raise_with: str | None = "--max-file-size") -> FileMessage:
        return cls(path, check(path, what, limit, raise_with), limit)

    def chunks(self) -> Iterator[bytes]:
        fd, _ = open_checked(self.path, "--data", self.limit)
        sent = 0
        with os.fdopen(fd, "rb") as f:
            while sent <= self.limit and (chunk := f.read(CHUNK)):
                sent += len(chunk)
                yield chunk
