"""The tag=value list shared by DKIM keys, DMARC, MTA-STS and TLS-RPT records (RFC 6376 §3.2). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass
class TagList:
    tags: dict[str, str] = field(default_factory=dict)  # first value of each tag
    order: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # malformed tag-specs, quoted


def parse_tags(text: str) -> TagList:
    """Never raises. Tag names are kept as written (DKIM and DMARC tag names are case-sensitive)."""
    result = TagList()
    parts = text.split(";")
    for i, part in enumerate(parts):
        spec = part.strip(" \t\r\n")
        if not spec:
            if i != len(parts) - 1 and i != 0:
                result.errors.append("empty tag-spec (';;')")
            continue
        name, eq, value = spec.partition("=")
        name = name.strip(" \t\r\n")
        if not eq:
            result.errors.append(f"no '=' in {spec!r}")
            continue
        if not _TAG_NAME.match(name):
            result.errors.append(f"bad tag name {name!r}")
            continue
        if name in result.tags:
            result.duplicates.append(name)
            continue
        result.tags[name] = value.strip(" \t\r\n")
        result.order.append(name)
    return result
