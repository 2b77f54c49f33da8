"""`smtpprobe explain`: what an SMTP reply means, whose side it is on, and how to check it."""

from __future__ import annotations

import json
import sys

import click

from smtpprobe.errors import SmtpProbeError, UsageError
from smtpprobe.exitcodes import Exit

_MAX_INPUT = 64 * 1024  # a bounce is a few KB; refuse to read an endless pipe


@click.command(
    epilog="""\b
Examples:
  smtpprobe explain 550
  smtpprobe explain 550 5.7.1
  smtpprobe explain 5.7.26
  smtpprobe explain 'host mx.example.com[192.0.2.10] said: 554 5.7.1 <x@example.org>: Relay access denied'
  pbpaste | smtpprobe explain -
"""
)
@click.argument("text", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help='Structured output ({"schema": 1, ...}).')
def explain(text: tuple[str, ...], as_json: bool) -> None:
    """Explain an SMTP reply code, an enhanced status code, or a pasted reply or bounce line.

    TEXT is a code (550), a code with its enhanced code (550 5.7.1), an enhanced code (5.7.26), a whole
    reply or bounce line, or '-' to read it from standard input.
    """
    from smtpprobe.knowledge import explain as explain_text
    from smtpprobe.knowledge import render_text

    try:
        raw = _read_stdin() if text == ("-",) else " ".join(text)
        exp = explain_text(raw)
    except SmtpProbeError as exc:
        click.echo(f"smtpprobe explain: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    if as_json:
        click.echo(json.dumps(exp.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(exp))
    sys.exit(int(Exit.OK))


def _read_stdin() -> str:
    data = sys.stdin.read(_MAX_INPUT + 1)
    if len(data) > _MAX_INPUT:
        raise UsageError(
            f"standard input is longer than {_MAX_INPUT // 1024} KiB: paste only the reply or bounce"
        )
    return data
