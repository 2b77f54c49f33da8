"""The runner's semantics against a purpose-built scripted SMTP server on loopback (a real socket server,
not a mock: it lets each test choose exactly how the server misbehaves, and records what it received).

Windows, warn_if, setup failures, skips, timeouts, closes, pipelines, raw bytes, policy, and the bounded
thread pool with exclusive scenarios.
"""

from __future__ import annotations

import dataclasses
import socket
import textwrap
import threading
import time
from dataclasses import dataclass, field

import pytest

from smtpprobe.scenario.loader import load_file
from smtpprobe.scenario.runner import run_all, run_one
from smtpprobe.scenario.target import build_target
from smtpprobe.scenario.verdict import Verdict
from tests.servers._common import free_port

HEAD = """
[[scenario]]
id = "t"
title = "test"
basis = "{basis}"
reference = "RFC 5321 §0"
why = "it matters to the test"
ports = ["mx"]
"""


@dataclass
class Scripted:
    """A tiny SMTP server: `replies` maps a verb to its reply line(s); a verb in `silent` gets no reply,
    in `close` gets its reply and then a close; anything else gets 500."""

    replies: dict[str, str] = field(default_factory=dict)
    by_text: dict[str, str] = field(default_factory=dict)  # a line containing this text gets this reply
    silent: set[str] = field(default_factory=set)
    close: set[str] = field(default_factory=set)
    greeting: str = "220 mx.scripted.test ESMTP"
    received: list[bytes] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    alone: list[bool] = field(default_factory=list)  # per connection: was it the only one open?
    port: int = 0

    def start(self) -> Scripted:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.alone.append(self.active == 1)
        conn.settimeout(10)
        try:
            conn.sendall(self.greeting.encode() + b"\r\n")
            buffer = b""
            while not self.stop.is_set():
                data = conn.recv(4096)
                if not data:
                    return
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self.received.append(line + b"\n")
                    verb = line.rstrip(b"\r").split(b" ")[0].decode(errors="replace").upper()
                    if verb in self.silent:
                        continue
                    text = line.decode(errors="replace")
                    reply = next((r for t, r in self.by_text.items() if t in text), None)
                    reply = reply or self.replies.get(verb, "500 5.5.2 unknown")
                    conn.sendall(reply.encode() + b"\r\n")
                    if verb in self.close or verb == "QUIT":
                        return
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.active -= 1

    def commands(self) -> list[str]:
        return [line.decode().rstrip("\r\n") for line in self.received]

    def shutdown(self) -> None:
        self.stop.set()
        self.sock.close()


POLITE = {
    "EHLO": "250-mx.scripted.test\r\n250 PIPELINING",
    "HELO": "250 mx.scripted.test",
    "MAIL": "250 2.1.0 Ok",
    "RCPT": "250 2.1.5 Ok",
    "RSET": "250 2.0.0 Ok",
    "NOOP": "250 2.0.0 Ok",
    "QUIT": "221 2.0.0 Bye",
    "DATA": "354 go ahead",
}


@pytest.fixture
def server():
    started: list[Scripted] = []

    def make(**changes: object) -> Scripted:
        replies = dict(POLITE)
        replies.update(changes.pop("replies", {}))  # type: ignore[arg-type]
        s = Scripted(replies=replies, **changes).start()  # type: ignore[arg-type]
        started.append(s)
        return s

    yield make
    for s in started:
        s.shutdown()


def scenario(tmp_path, steps: str, basis: str = "rfc", extra: str = ""):
    path = tmp_path / "t.toml"
    path.write_text(HEAD.format(basis=basis) + extra + textwrap.dedent(steps))
    return load_file(path)


def target(port: int, policy: str = "rfc", timeout: float = 2.0, **variables: str):
    return build_target(
        f"127.0.0.1:{port}",
        (),
        {},
        {"policy": policy, "timeout": timeout, "helo": "client.example.org", **variables},
    )


HELO_WINDOW = """
[[scenario.step]]
name = "helo"
send = "EHLO bad_name"

[[scenario.step]]
send = "MAIL FROM:<{sender}>"

[[scenario.step]]
send = "RCPT TO:<{local_rcpt}>"
since = "helo"
expect = { refused = true }
"""


def test_window_refused_at_the_start_passes_and_sends_nothing_more(tmp_path, server):
    s = server(replies={"EHLO": "501 5.5.2 bad name"})
    (sc,) = scenario(tmp_path, HELO_WINDOW)
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.PASS, result.summary
    assert s.commands() == ["EHLO bad_name", "QUIT"]


def test_window_refused_at_rcpt_passes_like_postfix_delay_reject(tmp_path, server):
    s = server(replies={"RCPT": "504 5.5.2 <bad_name>: Helo command rejected: need fully-qualified hostname"})
    (sc,) = scenario(tmp_path, HELO_WINDOW)
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.PASS
    assert [c.short for c in result.checks] == [
        (
            "RCPT TO:<postmaster>: got 504 5.5.2 <bad_name>: Helo command rejected: need "
            "fully-qualified hostname"
        )
    ]


@pytest.mark.parametrize(
    "basis, policy, verdict",
    [
        ("hardening", "rfc", Verdict.WARN),
        ("hardening", "hardened", Verdict.FAIL),
        ("rfc", "rfc", Verdict.FAIL),
        ("rfc", "hardened", Verdict.FAIL),
    ],
)
def test_window_never_refused_is_judged_by_basis_and_policy(tmp_path, server, basis, policy, verdict):
    s = server()
    (sc,) = scenario(tmp_path, HELO_WINDOW, basis=basis)
    result = run_one(sc, "mx", target(s.port, policy))
    assert result.verdict is verdict
    assert result.summary.startswith(
        "Expected a refusal (4xx/5xx, or the connection closed) at or before step 3 (RCPT TO:<postmaster>) "
        "from step 1 (EHLO bad_name) on, got 250 2.1.5 Ok: it matters to the test [RFC 5321 §0]"
    )
    assert result.summary.endswith(
        "(a warn under --policy rfc, a fail under --policy hardened)." if basis == "hardening" else "]."
    )
    assert "\n" not in result.summary
    assert (
        result.reason == "RCPT TO:<postmaster>: expected a refusal (4xx/5xx, or the connection "
        "closed), got 250 2.1.5 Ok"
    )


CONTROLLED = """
[[scenario.step]]
send = "EHLO {helo}"

[[scenario.step]]
name = "trick"
send = "RCPT TO:<relaytest%example.net@[127.0.0.1]>"
expect = { class = "5xx" }
warn_if = { class = "2xx" }

[[scenario.step]]
send = "RCPT TO:<nosuchuser@[127.0.0.1]>"
when = { step = "trick", refused = false }
expect = { refused = false, describe = "the made-up user accepted too" }
why = "the trick was routed"
"""


@pytest.mark.parametrize(
    "trick, control, verdict, sent",
    [
        ("554 5.7.1 Relay access denied", "550 5.1.1 User unknown", Verdict.PASS, False),
        ("250 2.1.5 Ok", "250 2.1.5 Ok", Verdict.WARN, True),
        ("250 2.1.5 Ok", "550 5.1.1 User unknown", Verdict.FAIL, True),
    ],
)
def test_when_sends_the_control_only_after_the_step_it_controls_was_accepted(
    tmp_path, server, trick, control, verdict, sent
):
    s = server(by_text={"relaytest%": trick, "nosuchuser@": control})
    (sc,) = scenario(tmp_path, CONTROLLED)
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is verdict, result.summary
    assert ("RCPT TO:<nosuchuser@[127.0.0.1]>" in s.commands()) is sent, s.commands()
    transcript = str(result.transcript)
    assert ("not sent: step 'trick' got 554 5.7.1 Relay access denied" in transcript) is not sent, transcript
    if (
        verdict is Verdict.FAIL
    ):  # the reason is the worst check's (the control), not the trick's warn before it
        assert result.reason.startswith(
            "RCPT TO:<nosuchuser@[127.0.0.1]>: expected the made-up user accepted too, got 550 5.1.1 User unknown"
        ), result.reason
        assert "the trick was routed" in result.summary and "(+1 more)" in result.reason


def test_warn_if_is_checked_before_expect(tmp_path, server):
    s = server(replies={"RCPT": "454 4.7.1 <x@example.net>: Relay access denied"})
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "RCPT TO:<x@example.net>"
        expect = { class = "5xx" }
        warn_if = { class = "4xx" }
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.WARN
    assert "got 454 4.7.1 <x@example.net>: Relay access denied, which is only worth a warn" in result.summary


def test_a_refused_setup_step_means_could_not_test(tmp_path, server):
    s = server(replies={"EHLO": "554 5.7.1 go away"}, close={"EHLO"})
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        send = "RCPT TO:<a@b.example>"
        expect = { code = 503 }
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.ERROR
    assert result.summary == "could not test: EHLO client.example.org (step 1) got 554 5.7.1 go away."
    assert s.commands() == ["EHLO client.example.org"]  # nothing sent after the refusal


def test_throttling_is_a_gate_not_tested_never_a_pass(tmp_path, server):
    # a server limiting the client has not answered the question: "not tested: gated by ...", a skip
    s = server(replies={"MAIL": "421 4.7.0 mx Error: too many errors"}, close={"MAIL"})
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        send = "MAIL FROM:<{sender}>"
        expect = { refused = true }
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.SKIP
    assert result.summary == "not tested: gated by throttling (421 4.7.0 mx Error: too many errors)."


def test_starttls_gate_on_a_server_without_starttls_is_not_tested(tmp_path, server):
    s = server(replies={"MAIL": "530 5.7.0 Must issue a STARTTLS command first"})
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        name = "mail"
        send = "MAIL FROM:<{sender}>"

        [[scenario.step]]
        send = "RCPT TO:<x@example.net>"
        since = "mail"
        expect = { class = "5xx" }
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.SKIP  # the 530 refused nothing under test: not a pass
    assert result.summary.startswith("not tested: gated by STARTTLS required (530 5.7.0 Must issue")
    assert result.summary.endswith("first); the server does not offer STARTTLS.")
    assert s.commands().count("EHLO client.example.org") == 1  # no second try: nothing to get past it


def test_repeat_sends_the_command_n_times_and_the_first_refusal_decides(tmp_path, server):
    s = server()
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        send = "MAIL FROM:<{sender}>"

        [[scenario.step]]
        send = "RCPT TO:<a@b.example>"
        repeat = 120
        expect = { code = 452 }
        warn_if = { class = "2xx" }
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.WARN  # never refused: all accepted
    assert result.reason.endswith("got 250 2.1.5 Ok, then all 120 accepted")
    assert s.commands().count("RCPT TO:<a@b.example>") == 120
    limited = server(replies={"RCPT": "452 4.5.3 too many recipients"})
    result = run_one(sc, "mx", target(limited.port))
    assert result.verdict is Verdict.PASS
    assert limited.commands().count("RCPT TO:<a@b.example>") == 50  # one pipelined group, then stopped


def test_no_pipelining_without_the_pipelining_extension(tmp_path, server):
    # RFC 2920 §3.1: a client MUST NOT pipeline to a server that does not offer PIPELINING
    s = server(replies={"EHLO": "250 mx.scripted.test"})
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        pipeline = ["MAIL FROM:<{sender}>", "RCPT TO:<a@b.example>", "NOOP"]
        expect = { class = "2xx" }
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.PASS
    sent = [e["ms"] for e in result.transcript if e["kind"] == "sent"][1:4]
    received = [e["ms"] for e in result.transcript if e["kind"] == "received"][2:5]
    assert all(r >= t for t, r in zip(sent, received, strict=True))  # each reply before the next command
    assert sent[1] >= received[0] and sent[2] >= received[1]


def test_unreachable_port_is_an_error_marked_unreachable(tmp_path):
    (sc,) = scenario(tmp_path, '[[scenario.step]]\nsend = "NOOP"\nexpect = { class = "2xx" }\n')
    result = run_one(sc, "mx", target(free_port()))
    assert result.verdict is Verdict.ERROR and result.unreachable
    assert result.summary.startswith("could not test: the greeting (step 0) got cannot connect to 127.0.0.1:")


@pytest.mark.parametrize("if_missing, verdict", [("skip", Verdict.SKIP), ("fail", Verdict.FAIL)])
def test_starttls_not_offered_is_a_skip_or_a_fail(tmp_path, server, if_missing, verdict):
    s = server()
    (sc,) = scenario(
        tmp_path,
        f"""
        [[scenario.step]]
        send = "EHLO {{helo}}"

        [[scenario.step]]
        starttls = true
        if_missing = "{if_missing}"
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is verdict
    assert "STARTTLS not offered in the EHLO reply" in result.summary
    assert "STARTTLS" not in s.commands()


def test_a_timeout_on_a_judged_step_is_an_error_and_bounded(tmp_path, server):
    s = server(silent={"NOOP"})
    (sc,) = scenario(
        tmp_path, '[[scenario.step]]\nsend = "NOOP"\ntimeout = 0.5\nexpect = { class = "2xx" }\n'
    )
    started = time.monotonic()
    result = run_one(sc, "mx", target(s.port))
    assert time.monotonic() - started < 4  # 0.5 s wait + a QUIT bounded at 2 s
    assert result.verdict is Verdict.ERROR
    assert result.summary == "could not test: NOOP (step 1) got no reply within 0.5s."


def test_silence_expected_by_a_read_step_passes(tmp_path, server):
    s = server()
    (sc,) = scenario(tmp_path, "[[scenario.step]]\nread = 0.3\nexpect = { silent = true }\n")
    assert run_one(sc, "mx", target(s.port)).verdict is Verdict.PASS


def test_closed_expectation_waits_for_the_hang_up(tmp_path, server):
    steps = '[[scenario.step]]\nsend = "NOOP"\ntimeout = 0.5\nexpect = { code = 421, closed = true }\n'
    closing = server(replies={"NOOP": "421 4.3.2 shutting down"}, close={"NOOP"})
    (sc,) = scenario(tmp_path, steps)
    assert run_one(sc, "mx", target(closing.port)).verdict is Verdict.PASS
    staying = server(replies={"NOOP": "421 4.3.2 shutting down"})
    result = run_one(sc, "mx", target(staying.port))
    assert result.verdict is Verdict.FAIL
    assert result.reason == "NOOP: expected 421 then the connection closed, got 421 4.3.2 shutting down"


def test_pipeline_checks_each_reply_in_order(tmp_path, server):
    s = server(replies={"RCPT": "550 5.1.1 unknown"})
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        pipeline = ["MAIL FROM:<{sender}>", "RCPT TO:<a@b.example>", "NOOP"]
        expect = [{ code = 250 }, { class = "2xx" }, { code = 250 }]
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.FAIL
    assert result.reason == "the pipelined MAIL, RCPT, NOOP: expected a 2xx reply, got 550 5.1.1 unknown"
    sent = [e for e in result.transcript if e["kind"] == "sent"]
    assert len({e["ms"] for e in sent[1:4]}) == 1  # one write (the server offers PIPELINING)


def test_raw_bytes_go_out_exactly_and_variables_are_filled(tmp_path, server):
    s = server()
    (sc,) = scenario(
        tmp_path,
        r"""
        [[scenario.step]]
        raw = "NOOP {server_name} {client_literal}\n"
        expect = { code = 250 }
    """,
    )
    assert run_one(sc, "mx", target(s.port)).verdict is Verdict.PASS
    assert s.received[0] == b"NOOP mx.scripted.test [127.0.0.1]\n"


def test_data_step_dot_stuffs_and_terminates(tmp_path, server):
    # the message's lines get no reply, as in SMTP: the 250 comes only after the final "." has arrived (a
    # reply per body line let the client take the first one as the answer and hang up before the "." was read)
    s = server(
        replies={"DATA": "354 go ahead", ".": "250 2.0.0 queued"}, silent={"SUBJECT:", "", "..HIDDEN"}
    )
    (sc,) = scenario(
        tmp_path,
        r"""
        [[scenario.step]]
        data = "Subject: hi\n\n.hidden\n"
        expect = { class = "2xx" }
    """,
    )
    run_one(sc, "mx", target(s.port))
    assert b"..hidden\r\n" in s.received and b".\r\n" in s.received


def test_a_pool_stays_within_its_bound_and_exclusive_scenarios_run_alone(tmp_path, server):
    s = server()
    body = "".join(
        HEAD.format(basis="rfc").replace('id = "t"', f'id = "p{i}"')
        + '[[scenario.step]]\npause = 0.3\n[[scenario.step]]\nsend = "NOOP"\nexpect = { code = 250 }\n'
        for i in range(8)
    )
    body += (
        HEAD.format(basis="rfc").replace('id = "t"', 'id = "solo"')
        + "exclusive = true\n"
        + '[[scenario.step]]\nsend = "NOOP"\nexpect = { code = 250 }\n'
    )
    path = tmp_path / "many.toml"
    path.write_text(body)
    scenarios = load_file(path)
    started = time.monotonic()
    results = run_all(scenarios, target(s.port), concurrency=3)
    assert [r.id for r in results] == [f"p{i}" for i in range(8)] + ["solo"]
    assert all(r.verdict is Verdict.PASS for r in results)
    assert 2 <= s.peak <= 3
    assert s.alone[-1] is True  # the exclusive one had the server to itself
    assert time.monotonic() - started < 3


def test_explanations_quote_what_was_sent_and_the_reply(tmp_path, server):
    s = server(replies={"MAIL": "250 2.1.0 Ok"})
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "MAIL FROM:<{sender}>"
        expect = { code = 503 }
    """,
        basis="hardening",
    )
    result = run_one(sc, "mx", target(s.port, "hardened", sender="ci@example.org"))
    assert result.summary == (
        "Expected 503 to MAIL FROM:<ci@example.org> (step 1), got 250 2.1.0 Ok: it matters to "
        "the test [RFC 5321 §0] (a warn under --policy rfc, a fail under --policy hardened)."
    )
    texts = [e["text"] for e in result.transcript]
    assert "MAIL FROM:<ci@example.org>" in texts and "250 2.1.0 Ok" in texts


def test_a_refusal_at_connect_is_a_gate_not_a_pass(tmp_path, server):
    s = server(greeting="554 5.7.1 mx.scripted.test no SMTP service for you")
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        send = "MAIL FROM:<{sender}>"
        expect = { refused = true }
    """,
    )
    result = run_one(sc, "mx", target(s.port))
    assert result.verdict is Verdict.SKIP
    assert result.summary == (
        "not tested: gated by a refusal at connect (554 5.7.1 mx.scripted.test no SMTP service for you)."
    )


def test_a_submission_port_without_starttls_is_tested_in_plaintext(tmp_path, server):
    # the submission role connects with STARTTLS; where it is not offered the port is tested, not skipped
    s = server(replies={"EHLO": "250-mx.scripted.test\r\n250 PIPELINING"})
    (mx_only,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        send = "MAIL FROM:<{sender}>"

        [[scenario.step]]
        send = "RCPT TO:<relaytest@example.net>"
        expect = { class = "5xx" }
    """,
    )
    sc = dataclasses.replace(mx_only, ports=("submission",))
    t = build_target(
        "127.0.0.1", (f"submission={s.port}",), {}, {"timeout": 2.0, "helo": "client.example.org"}
    )
    result = run_one(sc, "submission", t)
    assert result.verdict is Verdict.FAIL  # relayed in plaintext: found, not skipped
    assert result.reason == "RCPT TO:<relaytest@example.net>: expected a 5xx reply, got 250 2.1.5 Ok"
    assert any(
        e["text"] == "STARTTLS not offered: this port is tested in plaintext" for e in result.transcript
    )


def test_credentials_never_go_in_clear_text_to_pass_an_auth_gate(tmp_path, server):
    s = server(replies={"MAIL": "530 5.7.0 Authentication required"})  # and no STARTTLS offered
    (sc,) = scenario(
        tmp_path,
        """
        [[scenario.step]]
        send = "EHLO {helo}"

        [[scenario.step]]
        send = "MAIL FROM:<{sender}>"
        expect = { refused = true }
    """,
    )
    result = run_one(sc, "mx", target(s.port, auth_user="u", auth_password="s3cret-pw"))
    assert result.verdict is Verdict.SKIP
    assert result.summary == (
        "not tested: gated by authentication required (530 5.7.0 Authentication required); "
        "no STARTTLS to protect the credentials, which never go in clear text."
    )
    assert not any(line.startswith("AUTH") for line in s.commands())
