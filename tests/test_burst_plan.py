"""Pure parts of `smtpprobe burst`: the safety cap and bounds, the report's arithmetic, the progress bar."""

from __future__ import annotations

import io

import pytest

from smtpprobe.burst import BurstPlan
from smtpprobe.burst.plan import MAX_CONNECTIONS, SAFE_CONNECTIONS, SAFE_RATE
from smtpprobe.burst.progress import ProgressBar
from smtpprobe.burst.report import BurstReport, _percentile
from smtpprobe.burst.worker import Attempt, Counters
from smtpprobe.errors import UsageError


def test_cap_refuses_more_connections_than_the_safe_number_without_the_owner_flag():
    with pytest.raises(UsageError) as err:
        BurstPlan(host="mx.example.org", connections=SAFE_CONNECTIONS + 1).validate()
    message = str(err.value)
    assert "--i-own-this-server" in message and "no connection was made" in message
    assert f"{SAFE_CONNECTIONS + 1} connections" in message and "mx.example.org:25" in message
    BurstPlan(host="mx.example.org", connections=SAFE_CONNECTIONS).validate()  # the cap itself is allowed


def test_cap_refuses_a_rate_above_the_safe_rate():
    with pytest.raises(UsageError, match=r"rate of 101/s \(limit 100/s\)"):
        BurstPlan(host="h", rate=SAFE_RATE + 1).validate()
    BurstPlan(host="h", rate=SAFE_RATE).validate()


def test_owner_flag_lifts_the_cap_but_not_the_hard_ceilings():
    BurstPlan(host="h", connections=5000, rate=2000, concurrency=100, own_server=True).validate()
    with pytest.raises(UsageError, match="--connections must be between 1 and 100000"):
        BurstPlan(host="h", connections=MAX_CONNECTIONS + 1, own_server=True).validate()
    with pytest.raises(UsageError, match="--hold must be between"):
        BurstPlan(host="h", hold=3601, own_server=True).validate()
    with pytest.raises(UsageError, match="over the ceiling"):
        BurstPlan(host="h", connections=20_000, own_server=True).validate()  # all at once: too many sockets


@pytest.mark.parametrize("field,value,message", [
    ("connections", 0, "--connections must be between 1"),
    ("concurrency", 0, "--concurrency must be between 1"),
    ("rate", 0, "--rate must be between 0.01"),
    ("timeout", 0, "--timeout must be between 0.1"),
    ("stage", "data", "--stage must be one of banner, ehlo, mail, rcpt, quit"),
])
def test_bad_values_are_named(field, value, message):
    with pytest.raises(UsageError, match=message):
        BurstPlan(host="h", **{field: value}).validate()


def test_starttls_needs_an_ehlo_stage():
    with pytest.raises(UsageError, match="STARTTLS follows EHLO"):
        BurstPlan(host="h", tls="starttls", stage="banner").validate()
    BurstPlan(host="h", tls="starttls", stage="ehlo").validate()


def test_defaults_fill_helo_and_sender_but_keep_the_null_sender():
    plan = BurstPlan(host="h")
    assert plan.helo and plan.sender == f"burst@{plan.helo}"
    assert BurstPlan(host="h", sender="").sender == ""
    assert BurstPlan(host="h", connections=7).effective_concurrency == 7
    assert BurstPlan(host="h", connections=7, concurrency=20).effective_concurrency == 7


def _attempt(index, outcome, decided, detail="", greeting_ms=None, accepted_before=0, open_at=0):
    return Attempt(index=index, started=decided - 0.001, outcome=outcome, decided=decided, detail=detail,
                   greeting_ms=greeting_ms, reached="banner" if outcome == "accepted" else "",
                   accepted_before=accepted_before, open_at_refusal=open_at)


def test_report_groups_refusals_and_picks_the_first_refusal_by_time_not_index():
    attempts = [
        _attempt(1, "accepted", 0.010, greeting_ms=10),
        _attempt(2, "accepted", 0.020, greeting_ms=20),
        _attempt(3, "refused", 0.050, "421 4.7.0 too many", accepted_before=2, open_at=2),
        _attempt(4, "refused", 0.040, "(connection closed without a greeting)", accepted_before=2, open_at=1),
        _attempt(5, "refused", 0.060, "421 4.7.0 too many", accepted_before=2),
        _attempt(6, "error", 0.080, "connect: Connection refused"),
    ]
    report = BurstReport.build(BurstPlan(host="h", connections=6), attempts, elapsed=0.1, peak_open=2)
    d = report.to_dict()
    assert (d["schema"], d["attempted"], d["accepted"], d["refused"], d["errors"]) == (1, 6, 2, 3, 1)
    assert d["refusals"] == {"421 4.7.0 too many": 2, "(connection closed without a greeting)": 1}
    assert next(iter(d["refusals"])) == "421 4.7.0 too many"  # most frequent first
    assert d["first_refusal"] == {"index": 4, "seconds": 0.04, "reply": "(connection closed without a greeting)",
                                  "accepted_before": 2, "open_connections": 1}
    assert d["error_kinds"] == {"connect: Connection refused": 1}
    assert d["banner_latency_ms"] == {"p50": 10, "p95": 20, "max": 20}
    assert d["connections_per_second"] == 75.0  # 6 answered by 0.08 s
    assert d["completed"] == 2


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (_percentile(values, 50), _percentile(values, 95), _percentile(values, 100)) == (50, 95, 100)
    assert _percentile([7.0], 95) == 7.0


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_only_after_a_second():
    counters = Counters()
    counters.done, counters.accepted, counters.refused, counters.open = 5, 4, 1, 3
    tty = _Tty()
    bar = ProgressBar(10, stream=tty)
    bar(counters, 0.5)
    assert tty.getvalue() == ""  # a short run prints nothing extra
    bar(counters, 1.2)
    assert "5/10 done, 3 open, accepted 4, refused 1, errors 0" in tty.getvalue()
    assert "#" * 15 + "-" * 15 in tty.getvalue()
    bar.clear()
    assert tty.getvalue().endswith("\r\x1b[K")
    pipe = io.StringIO()
    ProgressBar(10, stream=pipe)(counters, 5.0)
    assert pipe.getvalue() == ""
