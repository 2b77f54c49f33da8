"""The SPF project's own test suites (RFC 7208: 203 tests, RFC 4408: 191 tests), every test through the
`smtpprobe audit` command line against a real NSD serving the suite's zonedata (tests/servers/_spfsuite.py).

The suites' files are vendored from the pyspf 2.0.14 source distribution (tests/zones/spf-suite/, BSD
licence in *.LICENSE). Each test runs `audit DOMAIN --ip HOST --helo HELO --sender MAILFROM` and compares the
MAIL FROM evaluation's result (and explanation, where the suite gives one) with the suite's expectation.
Tests that differ are listed in EXCEPTIONS with their RFC reasoning (docs/audit.md repeats the list); they
run as strict xfails, so one that starts to pass is reported too.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from smtpprobe.cli import main
from tests.servers import _spfsuite

DEFAULT_EXPLANATION = "SPF fail - not authorized"  # pyspf's, what the suite calls DEFAULT

# (suite, test id) -> why the result differs. Keep in step with docs/audit.md "SPF test suites".
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _cases() -> list[pytest.param]:
    out = []
    for group in _spfsuite.load_groups():
        for case in group.cases:
            marks = []
            why = EXCEPTIONS.get((case.suite, case.id))
            if why:
                marks.append(pytest.mark.xfail(strict=True, reason=why))
            out.append(pytest.param(case, id=f"{case.suite}/{case.id}", marks=marks))
    return out


def _domain(case: _spfsuite.Case) -> str:
    """The audited DOMAIN: the MAIL FROM domain when it is a usable name, else the scenario's example.com."""
    from smtpprobe.audit.run import valid_domain

    dom = case.rename(case.mailfrom.rpartition("@")[2])
    return dom if valid_domain(dom) else case.rename("example.com")


@pytest.mark.parametrize("case", _cases())
def test_spf_suite(spf_suite_dns, case: _spfsuite.Case) -> None:
    server = spf_suite_dns[case.group]
    argv = [
        "audit",
        _domain(case),
        "--ip",
        case.host,
        "--sender",
        case.rename(case.mailfrom),
        "--resolver",
        server.address,
        "--timeout",
        "2",
        "--format",
        "json",
        "--dnsbl",
        "dnsbl.invalid",
        "--dkim-selector",
        "s",
    ]
    if case.helo:
        argv += ["--helo", case.rename(case.helo)]
    out = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert out.exit_code in (0, 1), out.output
    data = json.loads(out.stdout or "null") or pytest.fail(out.output)
    (mfrom,) = [e for e in data["spf"]["evaluations"] if e["identity"] == "mfrom"]
    assert mfrom["result"] in case.results, f"{case.spec}: {mfrom}"
    if case.explanation is not None:
        expected = DEFAULT_EXPLANATION if case.explanation == "DEFAULT" else case.explanation
        assert case.unrename(mfrom["explanation"]) == expected
