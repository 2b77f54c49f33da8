"""smtpprobe: an SMTP compliance-testing client."""

__version__ = "0.1.0"
