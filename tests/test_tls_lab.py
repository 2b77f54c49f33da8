"""The catalogue's TLS scans (tag `tls-posture`) against the hardened lab, whose own certificate the run trusts
(SMTPPROBE_TLS_CA_FILE, as `--tls-ca-file` does for send): TLS 1.2+ with strong suites and a certificate for
its name pass on every port; DANE and MTA-STS are not applicable (lab.test publishes neither, in a real DNS
server). The consequence checked with OpenSSL's own client: TLS 1.1 is refused, TLS 1.3 works."""

from __future__ import annotations

import json

from tests.cli import smtpprobe
from tests.test_tls_postfix import handshake


def test_hardened_lab_passes_the_tls_scans(lab_hardened, dnssec_bed):
    resolver = dnssec_bed({"lab.test": "mx A 127.0.0.1"})
    run = smtpprobe(
        "run",
        "-s",
        lab_hardened.host,
        "-p",
        f"mx={lab_hardened.port}",
        "-p",
        f"submission={lab_hardened.submission_port}",
        "-p",
        f"smtps={lab_hardened.smtps_port}",
        "--local-rcpt",
        "postmaster@lab.test",
        "--policy",
        "hardened",
        "--only",
        "tls-posture",
        "--format",
        "json",
        env={"SMTPPROBE_TLS_CA_FILE": str(lab_hardened.cert_path), "SMTPPROBE_RESOLVER": resolver},
        timeout=120,
    )
    verdicts = {(r["id"], r["role"]): r["verdict"] for r in json.loads(run.out)["results"]}
    for scenario in ("tls-versions", "tls-ciphers", "tls-certificate"):
        for role in ("mx", "submission", "smtps"):
            assert verdicts[(scenario, role)] == "pass", (scenario, role, run.out[-2000:])
    assert verdicts[("dane", "mx")] == verdicts[("mta-sts", "mx")] == "skip"
    assert run.code == 0, run.out[-2000:]
    assert handshake(lab_hardened.smtps_port, "-tls1_1", "-cipher", "ALL:@SECLEVEL=0") is None
    assert handshake(lab_hardened.smtps_port, "-tls1_3") is not None


def test_a_connection_limit_slows_the_scan_but_does_not_change_it(lab_factory):
    """The lab greets a second connection at once from us with 421: the scan (three at a time, STARTTLS) is
    refused now and then, asks again, and finds exactly what it finds without the limit."""
    free = lab_factory(profile="hardened", max_connections_per_client=0)
    tight = lab_factory(profile="hardened", max_connections_per_client=1)

    def suites(lab):
        run = smtpprobe(
            "tls",
            "--server",
            f"127.0.0.1:{lab.port}",
            "--format",
            "json",
            timeout=120,
        )
        report = json.loads(run.out)
        return {(v["version"], s["name"]) for v in report["versions"] for s in v["suites"]}, report["errors"]

    expected, errors = suites(free)
    assert expected and errors == []
    found, errors = suites(tight)
    assert errors == [] and found == expected
