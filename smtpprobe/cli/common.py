"""What every command shares: turning our exceptions into one line and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from smtpprobe.errors import SmtpProbeError
from smtpprobe.exitcodes import Exit


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """One clear line on stderr and the error's exit code; a traceback only with SMTPPROBE_DEBUG=1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SmtpProbeError as exc:
            _debug_traceback()
            click.echo(f"smtpprobe: {exc}", err=True)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("smtpprobe: interrupted", err=True)
            sys.exit(int(Exit.INTERRUPTED))

    return wrapper


def _debug_traceback() -> None:
    import os

    if os.environ.get("SMTPPROBE_DEBUG") == "1":
        import traceback

        traceback.print_exc()
