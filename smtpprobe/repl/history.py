"""Where the REPL keeps its line history: the user's data directory (XDG), or SMTPPROBE_REPL_HISTORY."""

from __future__ import annotations

import os
from pathlib import Path

HISTORY_ENV = "SMTPPROBE_REPL_HISTORY"  # a file path; empty = keep no history on disk


def history_path() -> Path | None:
    explicit = os.environ.get(HISTORY_ENV)
    if explicit is not None:
        return Path(explicit).expanduser() if explicit else None
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smtpprobe" / "repl_history"
