"""Every command shown in docs/ runs, and prints what the page says it prints (issue 15): the docs cannot fall
behind the code. The convention (targets, $PORT, `...`) is in docs/README.md, "Examples are tested"; parsing
and comparing are in tests/docs_examples.py.

Each example gets the target its page or its block names, started fresh on free ports: `lab` (hardened) and
`lab-open` (with LabConfig fields as key=value), `postfix-strict`, `postfix-open`, `exim CONFIG` (a private
Exim of the test bed, tests/servers/exim.py), `dns` (NSD with tests/zones), or `none`. The ports go in the
environment as PORT, SUBMISSION_PORT and SMTPS_PORT (the names `smtpprobe lab --port 0` prints), the lab's
certificate as LAB_CA, the DNS server as RESOLVER; commands run in bash, in a scratch directory per page, with
stdout and stderr interleaved as on a terminal."""

from __future__ import annotations

import os
import signal
import string
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_examples import Command, Example, examples, matches

EXAMPLES = examples()
# Blocks marked `skip: WHY` are not collected at all (a skip would fail under CI); the test below checks each
# says why.
RUN = [e for e in EXAMPLES if not e.target.startswith("skip")]
BIN = str(Path(sys.executable).parent)
_pages: dict[str, Path] = {}
_updates: list[tuple[str, Command, str]] = []


@pytest.fixture(scope="session", autouse=True)
def _rewrite_docs_when_asked():
    """DOCS_UPDATE=1: write what each failing command really printed into its page (then review the diff);
    outputs shortened with `...` still fail, to be updated by hand. DOCS_UPDATE=all: also where only the layout differs
    (commands whose output shows no `...`)."""
    yield
    from tests.docs_examples import DOCS

    for page in sorted({page for page, _, _ in _updates}):
        path = DOCS / page
        lines = path.read_text("utf-8").split("\n")
        for _, command, output in sorted((u for u in _updates if u[0] == page), key=lambda u: -u[1].line):
            start = command.line - 1 + command.text.count("\n") + _continuations(lines, command.line - 1)
            new = output.rstrip("\n").split("\n") if output.strip() else []
            lines[start + 1 : start + 1 + len(command.expected)] = new
        path.write_text("\n".join(lines), "utf-8")


def _continuations(lines: list[str], at: int) -> int:
    n = 0
    while lines[at + n].endswith("\\"):
        n += 1
    return n


def test_the_docs_have_examples_and_each_names_a_target_it_can_get():
    assert len(EXAMPLES) >= 40
    for example in EXAMPLES:
        kind = example.target.split()[0] if example.target else "none"
        assert kind.rstrip(":") in {
            "none",
            "lab",
            "lab-open",
            "postfix-strict",
            "postfix-open",
            "postfix",
            "dovecot",
            "exim",
            "dns",
            *_BROKEN_DNS,
            "skip",
        }, (example.id, example.target)
        if kind.startswith("skip"):
            assert len(example.target.split(":", 1)[-1].strip()) > 10, (example.id, "say why it is not run")
    assert len(EXAMPLES) - len(RUN) <= 5  # what cannot run in a test stays the exception


@pytest.mark.parametrize("example", RUN, ids=[e.id for e in RUN])
def test_example(example: Example, request, tmp_path_factory):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    for name in ("COLUMNS", "LINES", "SMTPPROBE_AUTH_PASSWORD", "SMTPPROBE_DEBUG"):
        env.pop(name, None)
    cwd = _page_dir(example.page, tmp_path_factory)
    with _targets(example.target, request, env):
        rc = 0
        for command in example.commands:
            if command.text.strip() == "echo $?":
                output = f"{rc}\n"
            else:
                rc, output = _run(command, env, cwd)
            problem = matches(command.expected, output)
            update = os.environ.get("DOCS_UPDATE")
            if (
                update == "all"
                and "..." not in command.expected
                and "\n".join(command.expected) != output.rstrip("\n")
            ):
                problem = "layout"  # DOCS_UPDATE=all: paste the exact output of every block without `...`
            if problem and update in ("1", "all") and "..." not in command.expected:  # `...`: by hand
                _updates.append((example.page, command, output))
                continue
            assert problem is None, (
                f"{example.page}:{command.line}: $ {command.text}\n{problem}\n--- it printed:\n{output}"
            )


def _page_dir(page: str, tmp_path_factory) -> Path:
    """The page's scratch directory, with the files the page shows (`<!-- file: PATH -->`)."""
    if page not in _pages:
        from tests.docs_examples import DOCS, page_files

        _pages[page] = tmp_path_factory.mktemp("docs-page")
        for name, content in page_files((DOCS / page).read_text("utf-8")).items():
            (_pages[page] / name).parent.mkdir(parents=True, exist_ok=True)
            (_pages[page] / name).write_text(content)
    return _pages[page]


# The DNS servers that fail on purpose (tests/servers/dns.py), for audit's DNS errors: target -> (variable, fixture)
_BROKEN_DNS = {
    "dns-dead": ("DEAD", "dead_dns"),
    "dns-garbage": ("GARBAGE", "garbage_dns"),
    "dns-referral": ("REFERRAL", "referral_dns"),
}


class _targets:
    """Start what the example needs (fresh, free ports) and put its coordinates into `env`."""

    def __init__(self, target: str, request, env: dict):
        self.target, self.request, self.env, self.labs = target, request, env, []

    def __enter__(self):
        words = self.target.split()
        for i, word in enumerate(words):
            if word in ("lab", "lab-open"):
                self._lab(word, words[i + 1 :])
            elif word.startswith("postfix-"):
                self._postfix(self.request.getfixturevalue(word.replace("-", "_")))
            elif word == "postfix":
                self._postfix_configured(words[i + 1], words[i + 2 :])
            elif word == "exim":  # `exim CONFIG`: a fresh Exim of the test bed (tests/servers/exim.py)
                exim = self.request.getfixturevalue("exim_factory")(words[i + 1])
                self.env.update(PORT=str(exim.port), LAB_CA=str(exim.cert_path))
            elif word == "dovecot":
                dovecot = self.request.getfixturevalue("dovecot")
                self.env.update(
                    LMTP_PORT=str(dovecot.lmtp_port),
                    LMTP_SOCKET=dovecot.lmtp_socket,
                    DOVECOT_AUTH_PORT=str(dovecot.auth_port),
                )
            elif word == "dns":
                address = self.request.getfixturevalue("dns_server").address
                self.env.update(RESOLVER=address, NSD=address)
            elif word in _BROKEN_DNS:
                self.env[_BROKEN_DNS[word][0]] = self.request.getfixturevalue(_BROKEN_DNS[word][1]).address
        return self

    def _postfix(self, pf) -> None:
        self.env.update(
            PORT=str(pf.smtp_port),
            SUBMISSION_PORT=str(pf.submission_port),
            SMTPS_PORT=str(pf.smtps_port),
            LAB_CA=str(pf.cert_path),
            POSTFIX_CONFIG=str(pf.config_dir),
        )

    def _postfix_configured(self, profile: str, options: list[str]) -> None:
        """`postfix PROFILE key=value ...`: a fresh Postfix of the test bed with these main.cf settings
        ($NAME in a value is taken from the targets named before it, e.g. $DOVECOT_AUTH_PORT);
        `reconfigure:key=value` is set after the start (a setting the bed's readiness probe cannot speak
        through, such as smtpd_upstream_proxy_protocol)."""
        at_start: dict[str, str] = {}
        later: dict[str, str] = {}
        for option in options:
            if "=" not in option:
                break
            key, value = string.Template(option).substitute(self.env).split("=", 1)
            if key.startswith("reconfigure:"):
                later[key.removeprefix("reconfigure:")] = value
            else:
                at_start[key] = value
        pf = self.request.getfixturevalue("postfix_factory")(profile, at_start)
        if later:
            pf.reconfigure(**later)
        self._postfix(pf)

    def _lab(self, kind: str, options: list[str]) -> None:
        from smtpprobe.lab import LabServer
        from tests.servers.lab import free_config

        fields: dict[str, object] = {"profile": "open" if kind == "lab-open" else "hardened"}
        for option in options:
            if "=" not in option:
                break
            key, value = option.split("=", 1)
            if key == "rate_limit":
                from smtpprobe.lab.config import parse_rate

                fields[key] = parse_rate(value)
            else:
                fields[key] = float(value) if "." in value else int(value) if value.isdigit() else value
        lab = LabServer(free_config(**fields)).start()
        self.labs.append(lab)
        self.env.update(
            PORT=str(lab.port),
            SUBMISSION_PORT=str(lab.submission_port),
            SMTPS_PORT=str(lab.smtps_port),
            LAB_CA=str(lab.cert_path),
        )

    def __exit__(self, *exc):
        for lab in self.labs:
            lab.stop()


def _run(command: Command, env: dict, cwd: Path) -> tuple[int, str]:
    """Run one command as a user would in a shell. `smtpprobe lab` runs until it says it is ready (and,
    when the page shows `^C`, until then), and is stopped with Ctrl-C (SIGINT) as a user would."""
    if command.text.lstrip().startswith("smtpprobe lab") and "--help" not in command.text:
        return _run_lab(command, env, cwd)
    proc = subprocess.run(
        ["bash", "-c", "exec 2>&1\n" + command.text],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _run_lab(command: Command, env: dict, cwd: Path) -> tuple[int, str]:
    import threading

    proc = subprocess.Popen(
        ["bash", "-c", "exec 2>&1\nexec " + command.text],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C to stop" in line:
                ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    ready.wait(30)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    return proc.returncode, "".join(lines)
