"""What every command shares: turning our exceptions into one line and an exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from smtpprobe.display import safe
from smtpprobe.errors import SmtpProbeError
from smtpprobe.exitcodes import Exit


def handle_errors(func: Callable[..., Any] | None = None, *, prefix: str = "smtpprobe") -> Any:
    """One clear line on stderr, `PREFIX: message`, and the error's exit code. A bug (any other exception)
    is one line too, exit 1; its traceback shows with the command's `--debug` flag or SMTPPROBE_DEBUG=1.

    Use as `@handle_errors` or `@handle_errors(prefix="smtpprobe audit")`."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            debug = kwargs.get("debug") or os.environ.get("SMTPPROBE_DEBUG") == "1"
            try:
                _check_numbers(kwargs)
                return command(*args, **kwargs)
            except SmtpProbeError as exc:
                if debug:
                    import traceback

                    traceback.print_exc()
                click.echo(f"{prefix}: {safe(str(exc))}", err=True)
                sys.exit(int(exc.exit_code))
            except KeyboardInterrupt:
                click.echo(f"{prefix}: interrupted", err=True)
                sys.exit(int(Exit.INTERRUPTED))
            except (click.ClickException, click.Abort, click.exceptions.Exit):
                raise  # click's own: usage errors (exit 2), a cancelled prompt
            except Exception as exc:
                if debug:
                    raise
                click.echo(f"{prefix}: internal error: {type(exc).__name__}: {safe(str(exc))} "
                           "(rerun with --debug or SMTPPROBE_DEBUG=1 for the traceback)", err=True)
                sys.exit(int(Exit.FAILED))

        return wrapper

    return decorate(func) if func is not None else decorate


def _check_numbers(options: dict[str, Any]) -> None:
    """Every number option finite (click's FloatRange lets nan through: nan compares false) and every
    timeout within (0, 3600] seconds, whichever command and whatever its own range says."""
    from smtpprobe import validate

    for name, value in options.items():
        if isinstance(value, float):
            option = "--" + name.replace("_", "-")
            if name.endswith("timeout"):
                validate.number(value, option, 0.001, validate.MAX_TIMEOUT)
            else:
                validate.number(value, option, float("-inf"), float("inf"))
