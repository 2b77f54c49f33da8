"""The extensions a server advertises in its EHLO reply (RFC 5321 §4.1.1.1)."""

from __future__ import annotations

from smtpprobe.protocol.reply import Reply


def extensions(reply: Reply) -> dict[str, str]:
    """{'STARTTLS': '', 'AUTH': 'PLAIN LOGIN', 'SIZE': '10240000', ...}; the first line is the greeting."""
    result: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            result[keyword.upper()] = params.strip()
    return result


def auth_mechanisms(ext: dict[str, str]) -> list[str]:
    return ext.get("AUTH", "").upper().split()
