"""The burst safety cap holds whatever the options, scenarios and profiles: a default rate without
--rate, one budget for every burst of a run, and the real number of open connections reported. The
server counts what really arrived (tests/servers/attack.py), not what smtpprobe says it sent."""

from __future__ import annotations

import json

from tests.cli import smtpprobe

SAFE_RATE = 100  # smtpprobe.caps.SAFE_RATE, the documented default
SAFE_CONNECTIONS = 500


def held_to_rate(times: list[float], rate: float) -> bool:
    """The connections arrived no faster than RATE a second on average, first to last. (The server's
    accept timestamps bunch up when its thread waits for the CPU, so the busiest single second of a busy
    machine can show more than the client sent in it; the span cannot shrink by more than that wait.)"""
    times = sorted(times)
    return times[-1] - times[0] >= 0.8 * (len(times) - 1) / rate


def test_burst_without_rate_is_held_to_the_default_rate(attack_server):
    server = attack_server()
    run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "-n", "250", "--format", "json",
                    "--timeout", "5", timeout=60)
    assert run.code == 0, run.err
    assert server.connections == 250
    assert held_to_rate(server.connected_at, SAFE_RATE)
    report = json.loads(run.out)
    assert report["accepted"] == 250
    assert run.peak_rss_mb < 100


def test_the_real_peak_of_open_connections_is_reported(attack_server):
    # The server waits a second before greeting: all 30 connections are open together, none greeted yet.
    server = attack_server(hold=1.0)
    run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "-n", "30", "--timeout", "5", timeout=60)
    assert run.code == 0, run.err
    rows = {name.strip(): value.strip() for line in run.out.splitlines() if line.startswith("  ")
            for name, value in [line.strip().rsplit("  ", 1)]}
    assert rows["peak open connections"] == "30"
    run = smtpprobe("burst", "--server", f"127.0.0.1:{server.port}", "-n", "30", "--timeout", "5",
                    "--format", "json", timeout=60)
    assert json.loads(run.out)["peak_sockets"] == 30


def test_a_scenario_with_many_burst_cases_stays_within_one_budget(attack_server, tmp_path):
    cases = ", ".join(f'{{ id = "c{n:02d}" }}' for n in range(30))
    scenario = tmp_path / "bursts.toml"
    scenario.write_text(f'''
[[scenario]]
id = "many-bursts"
title = "30 bursts of 100"
basis = "hardening"
reference = "none"
why = "a test of the cap"
ports = ["mx"]
cases = [{cases}]

[[scenario.step]]
burst = {{ connections = 100, hold = 0 }}
expect = {{ class = "4xx" }}
''')
    server = attack_server()
    run = smtpprobe("run", "--server", f"127.0.0.1:{server.port}", str(scenario), "--timeout", "5",
                    "--format", "json", timeout=120)
    assert "Traceback" not in run.err
    assert server.connections <= SAFE_CONNECTIONS + 1  # the bursts' budget, and run's reachability check
    assert held_to_rate(server.connected_at, SAFE_RATE)
    doc = json.loads(run.out)
    refused = [r for r in doc["results"] if "burst connections allowed without --i-own-this-server" in r["summary"]]
    assert len(refused) == 30 - SAFE_CONNECTIONS // 100
    assert run.peak_rss_mb < 150
