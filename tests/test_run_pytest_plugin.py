"""The pytest plugin (issue item 7): scenario files collected as test items, run by a real pytest process
against the lab, as a CI job would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

VRFY = """
[[scenario]]
id = "vrfy-postmaster"
title = "VRFY does not confirm addresses"
basis = "hardening"
reference = "RFC 5321 §3.5.3, §7.3"
why = "VRFY that confirms addresses helps spammers harvest them"
ports = ["mx"]
tags = ["enumeration"]

[[scenario.step]]
send = "EHLO {helo}"

[[scenario.step]]
send = "VRFY postmaster"
expect = { code = [252, 502] }
"""


def pytest_run(directory, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return subprocess.run(
        check=False,
        args=[
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "smtpprobe.scenario.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(directory),
            # its own temporary directory: a nested pytest using the shared /tmp/pytest-of-USER would count
            # towards the three it keeps, and could delete the outer run's (its servers' working directories)
            "--basetemp",
            str(directory / ".basetemp"),
            str(directory),
            "-q",
            "-rfE",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=directory,
        env=env,
    )


def lab_options(lab) -> list[str]:
    return [
        "--smtpprobe-server",
        lab.host,
        "--smtpprobe-port",
        f"mx={lab.port}",
        "--smtpprobe-local-rcpt",
        "postmaster@lab.test",
        "--smtpprobe-policy",
        "hardened",
    ]


def test_scenario_files_and_the_catalogue_become_test_items(lab_hardened, tmp_path):
    (tmp_path / "checks.toml").write_text(textwrap.dedent(VRFY))
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # other TOML is left alone
    # without the security probes (tag `attack`: tests/test_security_probes.py) and the TLS scans (tag
    # `tls-posture`: tests/test_tls_lab.py)
    run = pytest_run(
        tmp_path, *lab_options(lab_hardened), "--smtpprobe-catalogue", "-k", "not attack and not tls-posture"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().splitlines()[-1].startswith("28 passed")  # 27 mx results + VRFY
    selected = pytest_run(
        tmp_path, *lab_options(lab_hardened), "--smtpprobe-catalogue", "-k", "relay", "--collect-only"
    )
    assert "40-relay.toml::open-relay/bang-path[mx]" in selected.stdout
    # 27 + 47 security probes on mx (14 smuggling sequences sent both in one write and split) + 6 TLS scans + VRFY
    assert "16/81 tests collected (65 deselected)" in selected.stdout


def test_a_failing_scenario_fails_the_test_with_explanation_and_transcript(lab_open, tmp_path):
    # (missing-helo, which this test used, is now an info: RFC 5321 lets a server take MAIL without HELO)
    run = pytest_run(tmp_path, *lab_options(lab_open), "--smtpprobe-catalogue", "-k", "source-route-ip")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "fail: Expected a 5xx refusal of MAIL or RCPT at or before step 3 (RCPT TO:<@[127.0.0.1]:" in run.stdout
    assert "<-  250 2.1.5 Ok" in run.stdout
    assert "1 failed" in run.stdout


def test_a_broken_file_is_a_one_line_collection_error(lab_hardened, tmp_path):
    (tmp_path / "broken.toml").write_text(
        textwrap.dedent(VRFY).replace('send = "VRFY postmaster"', 'sned = "VRFY postmaster"')
    )
    run = pytest_run(tmp_path, *lab_options(lab_hardened))
    assert run.returncode == 2, run.stdout + run.stderr
    assert (
        f"{tmp_path / 'broken.toml'}:15: scenario 'vrfy-postmaster', step 2, key 'sned': unknown step key"
        in run.stdout
    )
    assert "Traceback" not in run.stdout


def test_no_target_is_a_usage_error(tmp_path):
    (tmp_path / "checks.toml").write_text(textwrap.dedent(VRFY))
    run = pytest_run(tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr  # a collection error
    assert (
        "--server is required (or `server` in the --target profile) (scenario files need --smtpprobe-server "
        "or --smtpprobe-target)"
    ) in run.stdout
