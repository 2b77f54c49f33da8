"""A pytest plugin: scenario files (*.toml with [[scenario]] tables) collected as test items, one per
scenario and port role. Opt in with `-p smtpprobe.scenario.pytest_plugin` (or `pytest_plugins = [...]` in a
conftest.py); it is not auto-loaded, so installing smtpprobe changes no one's test run.

    pytest -p smtpprobe.scenario.pytest_plugin mail-checks/ --smtpprobe-server mx.example.org \\
           --smtpprobe-port mx=25 --smtpprobe-policy hardened [--smtpprobe-catalogue]

pass -> passed; warn -> passed with a warning; skip -> skipped; fail and error -> failed, with the
explanation and the transcript as the failure report.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from smtpprobe.errors import SmtpProbeError, UsageError


class SmtpProbeWarning(UserWarning):
    """A lenient answer: a warn verdict."""


class ScenarioFailed(Exception):
    def __init__(self, result):
        self.result = result
        super().__init__(result.summary)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smtpprobe", "smtpprobe scenario files")
    group.addoption("--smtpprobe-server", metavar="HOST[:PORT]", help="target server for scenario files")
    group.addoption(
        "--smtpprobe-port",
        action="append",
        default=[],
        metavar="ROLE=PORT",
        help="port role and port (mx=25, submission=587, smtps=465); repeatable; default mx",
    )
    group.addoption(
        "--smtpprobe-target", metavar="FILE", help="target profile (TOML), as for smtpprobe run --target"
    )
    group.addoption("--smtpprobe-policy", choices=["rfc", "hardened"], help="rfc (default) or hardened")
    for name in ("helo", "sender", "local-rcpt", "foreign-rcpt", "auth-user", "auth-password"):
        group.addoption(f"--smtpprobe-{name}", metavar="VALUE", help=f"{{{name.replace('-', '_')}}}")
    group.addoption(
        "--smtpprobe-timeout", type=float, metavar="SECONDS", help="seconds per reply (default 10)"
    )
    group.addoption("--smtpprobe-catalogue", action="store_true", help="also collect the built-in catalogue")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smtpprobe: an smtpprobe scenario")
    if config.getoption("smtpprobe_catalogue"):
        from smtpprobe.scenario import catalogue_path

        config.args.append(str(catalogue_path()))


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix != ".toml":
        return None
    try:
        head = file_path.read_text("utf-8", errors="replace")
    except OSError:
        return None
    if "[[scenario]]" not in head:
        return None  # pyproject.toml and friends are not ours
    return ScenarioFile.from_parent(parent, path=file_path)


def _target(config: pytest.Config):
    from smtpprobe.scenario.target import OVERRIDE_KEYS, build_target, load_profile

    cached = config.stash.get(_TARGET, None)
    if cached is not None:
        return cached
    option = config.getoption
    profile = load_profile(option("smtpprobe_target")) if option("smtpprobe_target") else {}
    overrides = {name: option(f"smtpprobe_{name}") for name in OVERRIDE_KEYS}
    try:
        target = build_target(option("smtpprobe_server"), tuple(option("smtpprobe_port")), profile, overrides)
    except SmtpProbeError as exc:  # reported as this file's collection error, in one line
        raise UsageError(f"{exc} (scenario files need --smtpprobe-server or --smtpprobe-target)") from None
    config.stash[_TARGET] = target
    return target


_TARGET = pytest.StashKey[object]()


class ScenarioFile(pytest.File):
    def collect(self):
        from smtpprobe.scenario.loader import load_file

        target = _target(self.config)
        for scenario in load_file(self.path):
            for role in scenario.ports:
                if role in target.ports:  # type: ignore[attr-defined]
                    yield ScenarioItem.from_parent(
                        self, name=f"{scenario.id}[{role}]", scenario=scenario, role=role
                    )

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, SmtpProbeError):
            return str(excinfo.value)  # the loader's one line: file, scenario, key, line
        return super().repr_failure(excinfo, style)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario, role: str, **kwargs):
        super().__init__(**kwargs)
        self.scenario, self.role = scenario, role
        self.add_marker(pytest.mark.smtpprobe)
        for tag in scenario.tags:  # so `-k relay` selects by tag as --only does
            self.keywords[tag] = True
        self.extra_keyword_matches.update(scenario.tags)  # what -k actually matches besides names

    def runtest(self) -> None:
        from smtpprobe.scenario.runner import run_one
        from smtpprobe.scenario.verdict import Verdict

        result = run_one(self.scenario, self.role, _target(self.config))
        self.user_properties.append(("verdict", result.verdict.value))
        if result.verdict is Verdict.SKIP:
            pytest.skip(result.summary)
        if result.verdict is Verdict.WARN:
            warnings.warn(
                SmtpProbeWarning(f"{self.scenario.id} on {self.role}: {result.summary}"), stacklevel=1
            )
        if result.verdict in (Verdict.FAIL, Verdict.ERROR):
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, ScenarioFailed):
            from smtpprobe.report.transcript_text import transcript_lines

            result = excinfo.value.result
            return "\n".join(
                [f"{result.verdict.value}: {result.summary}", "", *transcript_lines(result.transcript)]
            )
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        step = self.scenario.steps[-1]
        return self.path, (step.line or 1) - 1, f"{self.scenario.id} on {self.role}"
