"""`smtpprobe run --format junit`: JUnit XML as GitHub Actions reporters, GitLab and Jenkins read it.

One <testsuite> per port role; a testcase per scenario. fail -> <failure>, error -> <error>,
skip -> <skipped>, warn -> a passing case whose <system-out> starts with "WARN:". The transcript goes
into the failure/error body (or system-out), so the CI page shows what the server said.

XML 1.0 cannot hold most control characters, even escaped, and a server's reply may carry any: every
text and attribute passes the display sanitizer (control characters shown as `\x1b`), so the file always
parses.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from smtpprobe.display import safe
from smtpprobe.report.transcript_text import transcript_lines
from smtpprobe.scenario.target import Target
from smtpprobe.scenario.verdict import Result, Verdict


def render(target: Target, results: list[Result], seconds: float) -> str:
    root = ET.Element("testsuites", name="smtpprobe", time=f"{seconds:.3f}")
    _counts(root, results)
    for role in dict.fromkeys(r.role for r in results):
        mine = [r for r in results if r.role == role]
        suite = ET.SubElement(
            root, "testsuite", name=f"smtpprobe.{role}", time=f"{sum(r.seconds for r in mine):.3f}"
        )
        _counts(suite, mine)
        props = ET.SubElement(suite, "properties")
        host = f"[{target.host}]" if ":" in target.host else target.host
        ET.SubElement(props, "property", name="target", value=safe(f"{host}:{target.ports[role]}"))
        ET.SubElement(props, "property", name="policy", value=target.policy)
        for result in mine:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"smtpprobe.{role}",
                name=safe(result.id),
                time=f"{result.seconds:.3f}",
                file=safe(result.source),
            )
            summary = safe(result.summary)
            body = "\n".join(transcript_lines(result.transcript))
            if result.verdict is Verdict.FAIL:
                ET.SubElement(case, "failure", message=summary, type="fail").text = body
            elif result.verdict is Verdict.ERROR:
                ET.SubElement(case, "error", message=summary, type="error").text = body
            elif result.verdict is Verdict.SKIP:
                ET.SubElement(case, "skipped", message=summary)
            elif result.verdict is Verdict.WARN:
                ET.SubElement(case, "system-out").text = f"WARN: {summary}\n\n{body}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _counts(element: ET.Element, results: list[Result]) -> None:
    element.set("tests", str(len(results)))
    element.set("failures", str(sum(r.verdict is Verdict.FAIL for r in results)))
    element.set("errors", str(sum(r.verdict is Verdict.ERROR for r in results)))
    element.set("skipped", str(sum(r.verdict is Verdict.SKIP for r in results)))
