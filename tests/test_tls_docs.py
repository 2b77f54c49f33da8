"""docs/tls.md: linked from the README's command table and the user guide, every option of `smtpprobe tls`
documented, real runs shown (a command and its output)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_tls_doc_is_linked_lists_every_option_and_shows_real_runs():
    import click

    from smtpprobe.cli.tls import tls

    text = (ROOT / "docs" / "tls.md").read_text()
    assert "(docs/tls.md)" in (ROOT / "README.md").read_text()
    assert "(tls.md)" in (ROOT / "docs" / "README.md").read_text()
    for param in tls.params:
        if isinstance(param, click.Option):
            assert any(opt in text for opt in param.opts), param.opts
    runs = re.findall(r"^\$ smtpprobe (\w+)", text, re.MULTILINE)
    assert {"tls", "run"} <= set(runs)
    assert "Findings" in text and "TLS scan: TLSv1.0 accepted" in text
