"""What every command shares: turning our exceptions into one line and an exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable

from smtpprobe.display import safe
from smtpprobe.errors import SmtpProbeError
from smtpprobe.exitcodes import Exit


def handle_errors(func: Callable[..., object] | None = None, *, prefix: str = "smtpprobe") -> object:
    """One clear line on stderr, `PREFIX: message`, and the error's exit code. A bug (any other exception)
    is one line too, exit 1; its traceback shows with the command's `--debug` flag or SMTPPROBE_DEBUG=1.

    Use as `@handle_errors` or `@handle_errors(prefix="smtpprobe audit")`."""

    def decorate(command: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(command)
        def wrapper(*args: object, **kwargs: object) -> object:
            debug = kwargs.get("debug") or os.environ.get("SMTPPROBE_DEBUG") == "1"
            try:
                _check_numbers(kwargs)
                return command(*args, **kwargs)
            except SmtpProbeError as exc:
                if debug:
                    import traceback

                    traceback.print_exc()
                _echo_err(f"{prefix}: {safe(str(exc))}")
                sys.exit(int(exc.exit_code))
            except KeyboardInterrupt:
                _echo_err(f"{prefix}: interrupted")
                sys.exit(int(Exit.INTERRUPTED))
            except Exception as exc:
                if isinstance(exc, BrokenPipeError) and output_closed():
                    quiet_stdout()  # `| head` closed our output: stop quietly, as a filter killed by SIGPIPE
                    sys.exit(int(Exit.OUTPUT_CLOSED))
                if _is_click_exception(exc):
                    raise  # click's own: usage errors (exit 2), a cancelled prompt
                if debug:
                    raise
                _echo_err(f"{prefix}: internal error: {type(exc).__name__}: {safe(str(exc))} "
                          "(rerun with --debug or SMTPPROBE_DEBUG=1 for the traceback)")
                sys.exit(int(Exit.FAILED))

        return wrapper

    return decorate(func) if func is not None else decorate


def output_closed() -> bool:
    """Whether the reader of stdout went away: a pipe's write end polls as an error once no reader is left."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def quiet_stdout() -> None:
    """Points stdout at /dev/null, so that the interpreter's last flush does not complain about the pipe."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _check_numbers(options: dict[str, object]) -> None:
    """Every number option finite (click's FloatRange lets nan through: nan compares false) and every
    timeout within (0, 3600] seconds, whichever command and whatever its own range says. (A plain `send`
    comes here with no keyword options: its lean parser already refuses nan, inf and out-of-range values.)"""
    for name, value in options.items():
        if isinstance(value, float):
            from smtpprobe import validate

            option = "--" + name.replace("_", "-")
            if name.endswith("timeout"):
                validate.number(value, option, 0.001, validate.MAX_TIMEOUT)
            else:
                validate.number(value, option, float("-inf"), float("inf"))


def _echo_err(line: str) -> None:
    """click.echo(err=True) without importing click (a plain `send` runs without it)."""
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)


def _is_click_exception(exc: Exception) -> bool:
    click = sys.modules.get("click")  # if click is not loaded, the exception cannot be one of its own
    return click is not None and isinstance(exc, (click.ClickException, click.Abort, click.exceptions.Exit))
