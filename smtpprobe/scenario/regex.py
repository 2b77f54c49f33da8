"""A scenario's `text` regular expression, matched in linear time.

A reply is the server's to choose and a pattern is the scenario author's: with a backtracking engine
(Python's re) `^(a+)+$` against a long reply of a's takes exponential time and hangs the run. RE2 (Google's
engine, the google-re2 package) guarantees time linear in the text and bounded memory, at the price of
backreferences and lookaround, which a reply check does not need: those are refused at load time.
"""

from __future__ import annotations

MAX_PATTERN = 2000  # characters: a reply check, not a program
MAX_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern


class RegexError(ValueError):
    pass


def compile_text(pattern: str):  # -> re2._Regexp: has .search(text) and .pattern, like re.Pattern
    """PATTERN compiled case-insensitively, or RegexError saying why not."""
    import re2

    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"longer than {MAX_PATTERN} characters")
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # else RE2 prints its own line on stderr
    options.max_mem = MAX_MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(f"{reason} (RE2 syntax: no backreferences or lookaround)") from None
