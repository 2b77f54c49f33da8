"""Reply-code knowledge base: what an SMTP reply means and what to do about it.

Python API (for `smtpprobe explain`, `doctor`, the REPL and the scenario runner)::

    from smtpprobe.knowledge import explain, explain_reply, short_note, render_text

    exp = explain("host mx[192.0.2.1] said: 554 5.7.1 <x@y>: Relay access denied")
    exp.code, exp.enhanced          # 554, "5.7.1"
    exp.permanent, exp.transient    # True, False   (None for 2xx/3xx)
    exp.standard                    # the basic code is one RFC 5321 (or an extension) defines
    exp.basic_meaning               # RFC 5321 meaning of 554
    exp.enhanced_meaning            # "Permanent failure · Security or policy status · Delivery not authorized..."
    exp.matches                     # known server texts: Match(server, title, side, causes, checks, commands...)
    exp.side                        # "sender" | "receiver" | "either" | None  (from the first match)
    exp.causes, exp.checks, exp.commands, exp.notes   # merged, most specific first
    exp.to_dict()                   # the --json form, {"schema": 1, ...}

    explain_reply(550, "5.7.1", "Relay access denied")  # when the reply is already split
    short_note(550, "5.7.1", "Relay access denied")     # one line for the REPL; never raises
    render_text(exp)                                    # the human block `smtpprobe explain` prints

`explain()` raises `smtpprobe.errors.UsageError` when the input holds no reply code at all.
The knowledge itself is data: TOML files in smtpprobe/knowledge/data/, validated when first loaded
(`smtpprobe.knowledge.store.load()`); docs/explain.md documents the format.
"""

from smtpprobe.knowledge.lookup import Explanation, Match, explain, explain_reply, short_note
from smtpprobe.knowledge.render import render_text

__all__ = ["Explanation", "Match", "explain", "explain_reply", "render_text", "short_note"]
