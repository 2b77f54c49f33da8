"""The doctor's docs: the five troubleshooting guides issue 7 asks for exist, are linked from docs/doctor.md,
and each shows real smtpprobe runs (a command and its output), not just prose."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).parent.parent / "docs"
GUIDES = {
    "550-5.5.1-protocol-error.md": "550 5.5.1 Protocol error",
    "551-571-go-away.md": "Go away",
    "554-5.7.1-relay-access-denied.md": "Relay access denied",
    "503-helo-ehlo-required.md": "503",
    "530-must-issue-starttls-first.md": "Must issue a STARTTLS command first",
}


def test_every_guide_is_linked_and_shows_real_runs():
    index = (DOCS / "doctor.md").read_text()
    for name, text in GUIDES.items():
        guide = (DOCS / "troubleshooting" / name).read_text()
        assert f"(troubleshooting/{name})" in index
        assert text in guide.splitlines()[0]
        for heading in ("## What it means", "## Causes", "## Diagnose it with smtpprobe", "## Fix"):
            assert heading in guide, (name, heading)
        runs = re.findall(r"^\$ smtpprobe (\w+)", guide, re.MULTILINE)
        assert runs, name  # at least one command shown with its output


def test_doctor_doc_lists_every_option():
    import click

    from smtpprobe.cli.doctor import doctor

    text = (DOCS / "doctor.md").read_text()
    for param in doctor.params:
        if isinstance(param, click.Option) and param.name not in ("debug",):
            assert any(opt in text for opt in param.opts), param.opts
