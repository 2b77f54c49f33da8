"""The SMTP protocol without I/O: bytes in, replies out; commands in, bytes out."""

from smtpprobe.protocol.reader import ReplyReader
from smtpprobe.protocol.reply import Reply

__all__ = ["Reply", "ReplyReader"]
