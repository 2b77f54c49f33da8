"""Organizational domains from the Public Suffix List (the `publicsuffixlist` package, which ships the list:
no download at run time, updated by upgrading the package). Loaded once per process (~0.1 s), on first use."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_psl: Any = None


def _list() -> Any:
    global _psl
    with _lock:
        if _psl is None:
            from publicsuffixlist import PublicSuffixList

            _psl = PublicSuffixList()
        return _psl


def org_domain(name: str) -> str:
    """The registrable domain (public suffix + one label): mail.example.co.uk -> example.co.uk. A name that is
    itself a public suffix is its own organizational domain (RFC 9989 §3.2.10 has no smaller one)."""
    name = name.lower().rstrip(".")
    return _list().privatesuffix(name) or name


def is_public_suffix(name: str) -> bool:
    return _list().is_public(name.lower().rstrip("."))
