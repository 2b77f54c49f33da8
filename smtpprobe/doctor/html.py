"""The report as one self-contained HTML file (no scripts, no external resources) with each transcript
in a collapsible <details>, for attaching to a message to the receiving admin."""

from __future__ import annotations

from html import escape

from smtpprobe.doctor import facts as X
from smtpprobe.doctor.run import DoctorReport
from smtpprobe.doctor.verdict import Item

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2430;max-width:60rem;margin:2rem auto;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.5rem}h2{font-size:1.15rem;margin-top:1.8rem;border-bottom:1px solid #d8dde6}
table.facts{border-collapse:collapse}table.facts th{text-align:left;padding:.2rem 1rem .2rem 0;color:#556;
font-weight:600;vertical-align:top;white-space:nowrap}table.facts td{padding:.2rem 0}
.verdict{padding:.8rem 1rem;border-radius:6px;font-weight:600;margin:1rem 0}
.ok{background:#e6f4ea;border-left:6px solid #1e8e3e}.fail{background:#fce8e6;border-left:6px solid #d93025}
.incomplete{background:#fef7e0;border-left:6px solid #f9ab00}
.intro{color:#556;margin:.3rem 0 .8rem}
.item{border:1px solid #d8dde6;border-radius:6px;padding:.6rem .9rem;margin:.6rem 0}
.item .sum{font-weight:600}.item .id{color:#778;font:12px ui-monospace,monospace;margin-left:.5rem}
.yours{border-left:5px solid #d93025}.theirs{border-left:5px solid #1a73e8}.unclear{border-left:5px solid #f9ab00}
.advice{border-left:5px solid #9aa0a6}
code,pre{font:13px/1.4 ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace}
code{background:#f1f3f4;padding:.05rem .3rem;border-radius:3px}
pre{background:#f8f9fa;border:1px solid #e0e3e7;padding:.6rem .8rem;overflow-x:auto;white-space:pre}
ul.verified{list-style:none;padding-left:0}ul.verified li::before{content:"\\2713 ";color:#1e8e3e;font-weight:700}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
pre.cmd{white-space:pre-wrap;word-break:break-all}
.sent{color:#1a4f9c}.refused{color:#b3261e;font-weight:600}.info{color:#667}.err{color:#b3261e}
"""


def render_html(r: DoctorReport) -> str:
    sentence, state = X.headline(r)
    mark = {"ok": "PASS", "fail": "FAIL", "incomplete": "INCOMPLETE"}[state]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>smtpprobe doctor report: {escape(r.opts.sender)} at {escape(r.started.isoformat())}</title>",
           f"<style>{_CSS}</style></head><body>", "<h1>smtpprobe doctor report</h1>", '<table class="facts">']
    out += [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in X.facts(r)]
    out += ["</table>", f'<div class="verdict {state}">{mark}: {escape(sentence)}</div>']
    for key, title, intro in X.SECTIONS:
        items: list[Item] = getattr(r.verdict, key)
        if items:
            out += [f"<h2>{escape(title)}</h2>", f'<p class="intro">{escape(intro)}</p>']
            out += [_item(item, key) for item in items]
    if r.verdict.verified:
        out += ["<h2>What the sender verified</h2>", '<ul class="verified">']
        out += [f"<li>{escape(i.summary)}" + (f" <small>({escape(i.ref)})</small>" if i.ref else "") + "</li>"
                for i in r.verdict.verified]
        out.append("</ul>")
    if r.probes:
        out += ["<h2>Transcripts</h2>", ('<p class="intro"><code>-&gt;</code> sent by the sender, <code>&lt;-</code> '
                "received, <code>&lt;**</code> a refusal, <code>~&gt;</code>/<code>&lt;~</code> inside TLS. "
                "AUTH secrets are redacted.</p>")]
        for p in r.probes:
            open_ = " open" if not p.ok else ""  # a refusal is what the admin wants to see first
            out += [f"<details{open_}><summary>{escape(X.probe_title(p))}</summary><pre>"]
            out += [_line(line) for line in X.transcript_lines(p)]
            out.append("</pre></details>")
    out += ["<h2>Reproduce</h2>", f'<pre class="cmd">{escape(X.command_line(r))}</pre>', "</body></html>", ""]
    return "\n".join(out)


def _item(item: Item, key: str) -> str:
    parts = [(f'<div class="item {key}"><div><span class="sum">{escape(item.summary)}</span>'
             f'<span class="id">{escape(item.id)}</span></div>'), "<ul>"]
    if item.reply:
        parts.append(f"<li>Reply: <code>{escape(item.reply)}</code></li>")
    if item.meaning:
        parts.append(f"<li>Meaning: {escape(item.meaning)}</li>")
    parts += [f"<li>{escape(fix)}</li>" for fix in item.fix]
    if item.ref:
        parts.append(f"<li>Reference: {escape(item.ref)}</li>")
    parts += [f"<li>Check: <code>{escape(c)}</code></li>" for c in item.commands]
    parts.append("</ul></div>")
    return "".join(parts)


def _line(line: str) -> str:
    cls = ("refused" if line.startswith(("<**", "<~*")) else "sent" if line.lstrip().startswith(("->", "~>")) else
           "err" if line.startswith("***") else "info" if line.startswith("===") else "")
    return f'<span class="{cls}">{escape(line)}</span>' if cls else escape(line)
