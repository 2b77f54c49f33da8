"""The scenario engine: scripted SMTP conversations with expected replies, judged into verdicts.

    from smtpprobe.scenario import load_paths, catalogue_path, build_target, run_all
    scenarios = load_paths([catalogue_path()])
    target = build_target("127.0.0.1", ("mx=2525",), {}, {"policy": "hardened"})
    results = run_all(scenarios, target)          # list[Result], each with .verdict and .summary

Modules: model (data); loader, step_spec, expect_spec, lines, errors (TOML in, validated scenarios out);
variables; steps (step kinds and their values); actions, probe_actions (what steps do on a Session);
expect (matching, wording); gates (refusals that are not the answer); runner (windows, gates, verdicts,
the thread pool); wording (what a step sent, for explanations); verdict (results, exit code); target
(ports, profile); pytest_plugin (scenario files as pytest items).
"""

from __future__ import annotations

from pathlib import Path

from smtpprobe.scenario.loader import load_file, load_paths
from smtpprobe.scenario.model import DEFAULT_PORTS, PORT_ROLES, Expectation, Scenario, Step
from smtpprobe.scenario.target import Target, build_target
from smtpprobe.scenario.verdict import Result, Verdict, counts, exit_code

__all__ = [
    "DEFAULT_PORTS",
    "PORT_ROLES",
    "Expectation",
    "Result",
    "Scenario",
    "Step",
    "Target",
    "Verdict",
    "build_target",
    "catalogue_path",
    "counts",
    "exit_code",
    "load_file",
    "load_paths",
    "run_all",
]


def catalogue_path() -> Path:
    """The built-in catalogue's folder (the package smtpprobe.catalogue, i.e. scenarios/ in the source)."""
    from importlib.resources import files

    return Path(str(files("smtpprobe.catalogue")))


def run_all(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See smtpprobe.scenario.runner.run_all (imported on use: it pulls in the session and TLS code)."""
    from smtpprobe.scenario.runner import run_all as run

    return run(*args, **kwargs)
