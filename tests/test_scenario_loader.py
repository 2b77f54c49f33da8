"""The scenario loader: the built-in catalogue, the format's features, and every bad-file error (one line
naming the file, the scenario, the key, and the line where it can be found; exit 2 from the CLI)."""

from __future__ import annotations

import textwrap

import pytest

from smtpprobe.exitcodes import Exit
from smtpprobe.scenario import catalogue_path, load_file, load_paths
from smtpprobe.scenario.errors import ScenarioError
from smtpprobe.scenario.steps import CONNECTING, KINDS
from tests.cli import smtpprobe

GOOD_HEAD = """
[[scenario]]
id = "demo"
title = "A demo"
basis = "rfc"
reference = "RFC 5321 §4.1.4"
why = "it matters"
ports = ["mx"]
"""

REQUIRED_IDS = {
    "missing-helo",
    "rcpt-before-mail",
    "data-before-rcpt",
    "ip-literal-helo",
    "empty-helo",
    "non-fqdn-helo",
    "invalid-helo",
    "unknown-command",
    "null-sender-accepted",
    "postmaster-accepted",
    "starttls-offered",
    "submission-requires-tls",
    "implicit-tls",
}


def write(tmp_path, text: str, name: str = "s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- the catalogue ---------------------------------------------------------------------------------------


def test_catalogue_has_every_required_scenario_and_the_16_relay_tricks():
    scenarios = load_paths([catalogue_path()])
    ids = {s.id for s in scenarios}
    assert REQUIRED_IDS <= ids
    relay = [s for s in scenarios if s.base_id == "open-relay"]
    assert len(relay) == 16 and all(s.id.startswith("open-relay/") for s in relay)
    assert {s.variables["rcpt"] for s in relay} >= {
        "{foreign_user}@{foreign_domain}",
        "{foreign_user}%{foreign_domain}@{server_literal}",
        '"{foreign_user}@{foreign_domain}"',
        "@{server_name}:{foreign_user}@{foreign_domain}",
        "{foreign_domain}!{foreign_user}",
        "{foreign_user}@{foreign_domain}@{server_literal}",
    }
    assert any(s.variables["mail"] == "" for s in relay)  # the null sender
    # relay probes never send DATA
    assert not any(step.kind in ("data", "data_raw") for s in relay for step in s.steps)


def test_catalogue_scenarios_name_their_basis_and_port_roles():
    for scenario in load_paths([catalogue_path()]):
        assert scenario.basis in ("rfc", "hardening")
        assert scenario.reference and scenario.why and scenario.ports
    by_id = {s.id: s for s in load_paths([catalogue_path()])}
    assert by_id["implicit-tls"].ports == ("smtps",)
    assert by_id["submission-requires-tls"].ports == ("submission",)
    assert by_id["missing-helo"].basis == "hardening" and by_id["null-sender-accepted"].basis == "rfc"


def test_catalogue_folder_is_the_top_level_scenarios_folder():
    from pathlib import Path

    assert catalogue_path().resolve() == (Path(__file__).parent.parent / "scenarios").resolve()


# -- the format ------------------------------------------------------------------------------------------


def test_a_full_scenario_loads_with_windows_cases_and_an_implicit_connect(tmp_path):
    path = write(
        tmp_path,
        GOOD_HEAD
        + """
        tags = ["x"]
        exclusive = true
        vars = { who = "nobody" }
        cases = [{ id = "one", addr = "{who}@{foreign_domain}" }, { id = "two", addr = "b@c" }]

        [[scenario.step]]
        name = "helo"
        send = "EHLO {helo}"

        [[scenario.step]]
        pipeline = ["MAIL FROM:<{sender}>", "RCPT TO:<{addr}>"]
        expect = [{ class = "2xx" }, { code = [250, 251] }]

        [[scenario.step]]
        send = "RSET"

        [[scenario.step]]
        send = "RCPT TO:<{addr}>"
        since = 3
        expect = { refused = true, enhanced = ["5.7.*"], text = "relay" }
        warn_if = { class = "4xx" }
        timeout = 2.5
    """,
    )
    one, two = load_file(path)
    assert (one.id, two.id, one.case, one.base_id) == ("demo/one", "demo/two", "one", "demo")
    assert one.variables == {"who": "nobody", "addr": "{who}@{foreign_domain}"}
    assert one.exclusive and one.tags == ("x",)
    kinds = [(s.number, s.kind) for s in one.steps]
    assert kinds == [(0, "connect"), (1, "send"), (2, "pipeline"), (3, "send"), (4, "send")]
    last = one.steps[-1]
    assert last.since == 3 and last.timeout == 2.5 and last.warn_if.classes == (4,)
    assert last.expect.enhanced == ("5.7.*",) and last.expect.refused is True
    assert isinstance(one.steps[2].expect, tuple) and len(one.steps[2].expect) == 2
    assert one.steps[1].line is not None and "name" in path.read_text().splitlines()[one.steps[1].line]


def test_every_step_kind_loads(tmp_path):
    steps = {
        "send": 'send = "NOOP"',
        "raw": r'raw = "NOOP\\r\\n"',
        "pipeline": 'pipeline = ["NOOP", "NOOP"]',
        "starttls": "starttls = true",
        "auth": 'auth = { mechanism = "plain", user = "u", password = "p" }',
        "data": 'data = "Subject: x\\n\\nbody"',
        "data_raw": r'data_raw = "x\\r\\n.\\r\\n"',
        "wait_closed": "wait_closed = 1",
        "pause": "pause = 0.1",
        "read": "read = 0.5",
        "starttls_inject": 'starttls_inject = "EHLO injected.example"',
        "smuggle": 'smuggle = { message = "x", eod = "\\n.\\n", smuggled = "NOOP\\r\\n", split = true }',
    }
    assert set(steps) | CONNECTING == set(KINDS)  # the connecting kinds may only be step 1
    body = (
        GOOD_HEAD
        + '\n[[scenario.step]]\nconnect = "starttls"\n'
        + "".join(f"\n[[scenario.step]]\n{line}\n" for line in steps.values())
    )
    (scenario,) = load_file(write(tmp_path, body))
    assert [s.kind for s in scenario.steps] == ["connect", *steps]
    assert scenario.steps[5].arg == {"mechanism": "PLAIN", "user": "u", "password": "p"}


# -- bad files -------------------------------------------------------------------------------------------

STEP = "\n[[scenario.step]]\n"
BAD = [
    # (name, file text, words the message must contain, line or None)
    ("toml-syntax", GOOD_HEAD + "\nports = [\n", ["not valid TOML"], 10),
    ("unknown-top-key", "scenarios = 1\n" + GOOD_HEAD, ["key 'scenarios'", "unknown top-level key"], 1),
    ("no-scenario", 'vars = { a = "b" }\n', ["needs at least one [[scenario]]"], None),
    (
        "missing-why",
        GOOD_HEAD.replace('why = "it matters"\n', "") + STEP + 'send = "NOOP"',
        ["scenario 'demo'", "key 'why'", "missing"],
        2,
    ),
    (
        "unknown-scenario-key",
        GOOD_HEAD + 'titel = "x"' + STEP + 'send = "NOOP"',
        ["key 'titel'", "unknown key"],
        9,
    ),
    ("bad-id", GOOD_HEAD.replace('"demo"', '"Demo Scenario"') + STEP + 'send = "NOOP"', ["key 'id'"], 3),
    (
        "bad-basis",
        GOOD_HEAD.replace('"rfc"', '"policy"') + STEP + 'send = "NOOP"',
        ["key 'basis'", "'rfc' or"],
        5,
    ),
    ("bad-role", GOOD_HEAD.replace('["mx"]', '["smtp"]') + STEP + 'send = "NOOP"', ["key 'ports'", "mx"], 8),
    ("no-steps", GOOD_HEAD, ["key 'step'", "missing"], 2),
    (
        "unknown-step-key",
        GOOD_HEAD + STEP + 'sned = "NOOP"',
        ["step 1", "key 'sned'", "unknown step key"],
        11,
    ),
    ("two-actions", GOOD_HEAD + STEP + 'send = "NOOP"\nraw = "x"', ["step 1", "exactly one action"], 10),
    ("no-action", GOOD_HEAD + STEP + 'name = "x"', ["step 1", "exactly one action"], 10),
    (
        "late-connect",
        GOOD_HEAD + STEP + 'send = "NOOP"' + STEP + 'connect = "plain"',
        ["step 2", "key 'connect'", "only the first step"],
        13,
    ),
    (
        "bad-connect-mode",
        GOOD_HEAD + STEP + 'connect = "ssl"',
        ["key 'connect'", "auto, plain, tls, starttls"],
        11,
    ),
    (
        "unknown-expectation",
        GOOD_HEAD + STEP + 'send = "NOOP"\nexpect = { cod = 250 }',
        ["step 1", "key 'expect.cod'", "unknown expectation"],
        12,
    ),
    (
        "code-as-class",
        GOOD_HEAD + STEP + 'send = "NOOP"\nexpect = { code = "5xx" }',
        ["key 'expect.code'", "200 to 599"],
        12,
    ),
    (
        "code-out-of-range",
        GOOD_HEAD + STEP + 'send = "NOOP"\nexpect = { code = 700 }',
        ["key 'expect.code'"],
        12,
    ),
    ("bad-class", GOOD_HEAD + STEP + 'send = "NOOP"\nexpect = { class = "5XX" }', ["key 'expect.class'"], 12),
    (
        "bad-enhanced",
        GOOD_HEAD + STEP + 'send = "NOOP"\nexpect = { enhanced = "5.7" }',
        ["key 'expect.enhanced'"],
        12,
    ),
    (
        "bad-regex",
        GOOD_HEAD + STEP + 'send = "NOOP"\nexpect = { text = "(" }',
        ["key 'expect.text'", "bad regular expression"],
        12,
    ),
    (
        "flag-not-bool",
        GOOD_HEAD + STEP + 'send = "NOOP"\nexpect = { closed = "yes" }',
        ["key 'expect.closed'"],
        12,
    ),
    (
        "describe-only",
        GOOD_HEAD + STEP + 'send = "NOOP"\nexpect = { describe = "x" }',
        ["expects nothing"],
        12,
    ),
    (
        "undefined-variable",
        GOOD_HEAD + STEP + 'send = "RCPT TO:<{recipient}>"',
        ["step 1", "key 'send'", "undefined variable {recipient}"],
        11,
    ),
    ("stray-brace", GOOD_HEAD + STEP + 'send = "MAIL FROM:<{sender>"', ["key 'send'", "stray '{'"], 11),
    (
        "since-unknown-name",
        GOOD_HEAD + STEP + 'send = "NOOP"\nsince = "helo"\nexpect = { refused = true }',
        ["key 'since'", "no earlier step is named 'helo'"],
        12,
    ),
    (
        "since-not-earlier",
        GOOD_HEAD + STEP + 'send = "NOOP"\nsince = 1\nexpect = { refused = true }',
        ["key 'since'", "earlier step"],
        12,
    ),
    (
        "since-without-expect",
        GOOD_HEAD + STEP + 'send = "NOOP"' + STEP + 'send = "NOOP"\nsince = 1',
        ["step 2", "key 'since'", "needs an `expect`"],
        14,
    ),
    (
        "judged-step-in-window",
        GOOD_HEAD
        + STEP
        + 'send = "A"'
        + STEP
        + 'send = "B"\nexpect = { class = "2xx" }'
        + STEP
        + 'send = "C"\nsince = 1\nexpect = { refused = true }',
        ["step 3", "inside this step's window"],
        17,
    ),
    (
        "pipeline-expect-count",
        GOOD_HEAD + STEP + 'pipeline = ["A", "B"]\nexpect = [{ class = "2xx" }]',
        ["key 'expect'", "needs 1 table or 2"],
        12,
    ),
    (
        "relay-with-data",
        GOOD_HEAD + STEP + 'send = "RCPT TO:<{foreign_rcpt}>"' + STEP + 'data = "hi"',
        ["step 2", "key 'data'", "never send DATA"],
        13,
    ),
    (
        "relay-case-with-data",
        GOOD_HEAD
        + 'cases = [{ id = "a", to = "{foreign_user}@x" }]'
        + STEP
        + 'send = "RCPT TO:<{to}>"'
        + STEP
        + 'data = "hi"',
        ["never send DATA"],
        13,
    ),
    (
        "duplicate-case",
        GOOD_HEAD + 'cases = [{ id = "a" }, { id = "a" }]' + STEP + 'send = "NOOP"',
        ["key 'cases[2].id'", "duplicate case id"],
        9,
    ),
    (
        "case-shadows-builtin",
        GOOD_HEAD + 'cases = [{ id = "a", helo = "x" }]' + STEP + 'send = "NOOP"',
        ["key 'cases[1].helo'"],
        9,
    ),
    (
        "var-not-string",
        GOOD_HEAD + "vars = { n = 3 }" + STEP + 'send = "NOOP"',
        ["key 'vars.n'", "strings"],
        9,
    ),
    (
        "var-cycle",
        GOOD_HEAD + 'vars = { a = "{b}", b = "{a}" }' + STEP + 'send = "{a}"',
        ["key 'vars.a'", "deeper than"],
        9,
    ),
    ("pause-too-long", GOOD_HEAD + STEP + "pause = 3600", ["key 'pause'", "0 to 30"], 11),
    (
        "send-with-newline",
        GOOD_HEAD + STEP + 'send = "NOOP\\r\\nQUIT"',
        ["key 'send'", "without CR or LF"],
        11,
    ),
    ("bad-auth-mechanism", GOOD_HEAD + STEP + 'auth = "XOAUTH9"', ["key 'auth.mechanism'", "PLAIN"], 11),
    ("if-missing-on-send", GOOD_HEAD + STEP + 'send = "NOOP"\nif_missing = "skip"', ["key 'if_missing'"], 12),
    (
        "warn-if-without-expect",
        GOOD_HEAD + STEP + 'send = "NOOP"\nwarn_if = { class = "4xx" }',
        ["key 'warn_if'", "needs an `expect`"],
        12,
    ),
    ("timeout-out-of-range", GOOD_HEAD + STEP + 'send = "NOOP"\ntimeout = 0', ["key 'timeout'"], 12),
    # repetition said once (`repeat`), validated with file:line
    (
        "repeat-zero",
        GOOD_HEAD + STEP + 'send = "RCPT TO:<a@b.example>"\nrepeat = 0',
        ["key 'repeat'", "1 to 2000"],
        12,
    ),
    ("repeat-huge", GOOD_HEAD + STEP + 'send = "NOOP"\nrepeat = 100000', ["key 'repeat'", "got 100000"], 12),
    ("repeat-not-a-number", GOOD_HEAD + STEP + 'send = "NOOP"\nrepeat = "50"', ["key 'repeat'"], 12),
    (
        "repeat-on-data",
        GOOD_HEAD + STEP + 'data = "x"\nrepeat = 2',
        ["key 'repeat'", "only a pipeline or send"],
        12,
    ),
    (
        "info-if-without-expect",
        GOOD_HEAD + STEP + 'send = "NOOP"\ninfo_if = { class = "2xx" }',
        ["key 'info_if'"],
        12,
    ),
    (
        "same-as-unknown-step",
        GOOD_HEAD + STEP + 'send = "VRFY a"\nexpect = { same_as = "nope" }',
        ["key 'expect.same_as'", "no earlier step is named 'nope'"],
        12,
    ),
    (
        "unknown-gate",
        GOOD_HEAD + 'judge_gates = ["tarpit"]' + STEP + 'send = "NOOP"',
        ["key 'judge_gates'", "starttls"],
        9,
    ),
    (
        "when-unknown-step",
        GOOD_HEAD + STEP + 'send = "RCPT TO:<b@c.example>"\nwhen = { step = "trick", refused = false }',
        ["key 'when.step'", "no earlier step is named 'trick'"],
        12,
    ),
    (
        "when-not-about-a-reply",
        GOOD_HEAD + STEP + 'name = "a"\nsend = "A"' + STEP + 'send = "B"\nwhen = { step = "a", tls = true }',
        ["step 2", "key 'when.tls'", "not a condition on a reply"],
        15,
    ),
    (
        "when-without-condition",
        GOOD_HEAD + STEP + 'name = "a"\nsend = "A"' + STEP + 'send = "B"\nwhen = { step = "a" }',
        ["step 2", "key 'when'", "needs a condition"],
        15,
    ),
    (
        "when-with-since",
        GOOD_HEAD
        + STEP
        + 'name = "a"\nsend = "A"'
        + STEP
        + 'send = "B"\nsince = "a"\nwhen = { step = "a", refused = false }\nexpect = { refused = true }',
        ["step 2", "key 'when'", "drop one"],
        16,
    ),
    (
        "step-name-reused",
        GOOD_HEAD + STEP + 'name = "a"\nsend = "A"' + STEP + 'name = "a"\nsend = "B"',
        ["step 2", "key 'name'", "unique"],
        14,
    ),
]


@pytest.mark.parametrize("name, text, words, line", BAD, ids=[b[0] for b in BAD])
def test_bad_file_is_explained_in_one_line(tmp_path, name, text, words, line):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: "), message
    for word in words:
        assert word in message, message


def test_not_utf8_missing_path_empty_folder_and_duplicate_ids(tmp_path):
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe id = 1")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_file(binary)
    with pytest.raises(ScenarioError, match="no such file or folder"):
        load_paths([tmp_path / "nope.toml"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioError, match="folder holds no"):
        load_paths([tmp_path / "empty"])
    body = GOOD_HEAD + STEP + 'send = "NOOP"\n'
    write(tmp_path, body, "a.toml")
    second = write(tmp_path, body, "b.toml")
    with pytest.raises(ScenarioError) as caught:
        load_paths([tmp_path / "a.toml", second])
    assert str(caught.value).startswith(f"{second}:3: scenario 'demo', key 'id': duplicate id (also in ")


def test_cli_bad_file_exits_2_with_one_line_and_no_connection(tmp_path):
    path = write(tmp_path, GOOD_HEAD + STEP + 'send = "RCPT TO:<{recipient}>"\n')
    # port 9 (discard) on loopback is never contacted: validation comes first
    run = smtpprobe("run", str(path), "--server", "127.0.0.1:9")
    assert run.code == Exit.USAGE
    assert run.err_lines == [
        (
            f"smtpprobe: {path}:11: scenario 'demo', step 1, key 'send': "
            "undefined variable {recipient} in 'RCPT TO:<{recipient}>'"
        )
    ]
    assert run.out == ""


@pytest.mark.parametrize(
    "args, words",
    [
        (["--port", "pop3=110"], "'pop3' is not a port role"),
        (["--port", "mx=99999"], "a port is a number from 1 to 65535"),
        (["--port", "mx=2525", "--port", "mx=2526"], "the mx role is given twice (2525 and 2526)"),
        (["--only", "no-such-thing"], "no scenario matches --only no-such-thing"),
        (["--sender", "<a@b>"], "want a bare address"),
        (
            ["--only", "implicit-tls"],
            "none of the selected scenarios applies to the selected port roles (mx)",
        ),
    ],
)
def test_cli_bad_options_exit_2(args, words):
    run = smtpprobe("run", "--server", "127.0.0.1", *args)
    assert run.code == Exit.USAGE, run.err
    assert len(run.err_lines) == 1 and words in run.err_lines[0], run.err


def test_cli_bad_target_profile(tmp_path):
    profile = tmp_path / "target.toml"
    profile.write_text('server = "127.0.0.1"\nport = 25\n')
    run = smtpprobe("run", "--target", str(profile))
    assert run.code == Exit.USAGE
    assert run.err_lines == [
        (
            f"smtpprobe: {profile}: unknown key 'port' in target profile (allowed: auth_password, "
            "auth_user, concurrency, foreign_rcpt, helo, local_rcpt, policy, ports, sender, "
            "server, timeout)"
        )
    ]


def test_cli_list_shows_the_catalogue_without_a_server():
    run = smtpprobe("run", "--list", "--only", "open-relay,helo")
    assert run.code == 0, run.err
    assert (
        "open-relay/percent-hack-ip" in run.out
        and "missing-helo" in run.out
        and "implicit-tls" not in run.out
    )
    assert run.out.rstrip().endswith("21 scenarios")


def test_docs_example_loads_and_every_kind_and_key_is_documented(tmp_path):
    import re
    from pathlib import Path

    from smtpprobe.scenario.expect_spec import EXPECT_KEYS
    from smtpprobe.scenario.loader import SCENARIO_KEYS
    from smtpprobe.scenario.step_spec import STEP_KEYS

    doc = (Path(__file__).parent.parent / "docs" / "scenarios.md").read_text()
    first = re.search(r"```toml\n(.*?)```", doc, re.DOTALL).group(1)
    scenarios = load_file(write(tmp_path, first))
    assert [s.id for s in scenarios] == ["vrfy-does-not-confirm", "size-limit-enforced"]
    for key in set(KINDS) | STEP_KEYS | EXPECT_KEYS | SCENARIO_KEYS - {"step"}:
        assert f"| `{key}` |" in doc, key


def test_repeat_and_variants_load_as_written(tmp_path):
    path = write(
        tmp_path,
        GOOD_HEAD
        + """variants = [{ id = "", way = "a" }, { id = "split", way = "b" }]
cases = [{ id = "one", x = "1" }, { id = "two", x = "2" }]

[[scenario.step]]
send = "RCPT TO:<{x}{way}@b.example>"
repeat = 950
expect = { code = 452 }
""",
    )
    scenarios = load_file(path)
    assert [s.id for s in scenarios] == ["demo/one", "demo/one-split", "demo/two", "demo/two-split"]
    assert scenarios[1].variables == {"x": "1", "way": "b"}
    assert scenarios[0].steps[-1].repeat == 950
    catalogue = {s.id: s for s in load_paths([catalogue_path()])}
    steps = catalogue["too-many-recipients"].steps
    assert [s.repeat for s in steps if s.kind == "send"] == [1, 1, 100, 950]  # 1050 recipients, written once
