"""Start-up cost: commands import only what their options need (docs/performance.md has the figures)."""

import subprocess
import sys

HEAVY = {"dns", "spf", "dkim", "tabulate", "cryptography", "aiosmtpd", "email", "ssl", "prompt_toolkit"}


def _imported_by(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "smtpprobe", *args],
                          capture_output=True, text=True, timeout=60, check=False)
    names = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return {name.split(".")[0] for name in names}, proc


def test_help_imports_nothing_heavy():
    imported, proc = _imported_by("--help")
    assert proc.returncode == 0
    assert not imported & HEAVY


def test_plain_send_imports_nothing_heavy(lab_hardened):
    imported, proc = _imported_by("send", "--server", f"127.0.0.1:{lab_hardened.port}", "--to",
                                  "postmaster@lab.test", "--helo", "client.example.org")
    assert proc.returncode == 0, proc.stdout
    assert not imported & HEAVY, imported & HEAVY


def test_tls_send_imports_ssl_and_cryptography_but_not_dns(lab_hardened):
    imported, proc = _imported_by("send", "--server", f"127.0.0.1:{lab_hardened.port}", "--to",
                                  "postmaster@lab.test", "--helo", "client.example.org", "--tls", "--quit-after", "tls")
    assert proc.returncode == 0, proc.stdout
    assert {"ssl", "cryptography"} <= imported
    assert not imported & {"dns", "spf", "dkim", "tabulate", "aiosmtpd"}


def test_tls_scan_imports_no_dns_without_dane_or_mta_sts(postfix_strict):
    imported, proc = _imported_by("tls", "--server", f"127.0.0.1:{postfix_strict.smtps_port}", "--tls-on-connect")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert {"ssl", "cryptography"} <= imported
    assert not imported & {"dns", "spf", "dkim", "tabulate", "aiosmtpd", "prompt_toolkit"}


def test_help_version_and_plain_send_run_without_click(lab_hardened):
    """The console script answers these from send's option table and the command table (smtpprobe/cli/launch.py):
    click alone costs ~25 ms, more than swaks' whole start-up."""
    for args in (("--help",), ("--version",), ("send", "--server", f"127.0.0.1:{lab_hardened.port}", "--to",
                                                "postmaster@lab.test", "--helo", "client.example.org", "--pipeline")):
        imported, proc = _imported_by(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not imported & {"click", "dataclasses", "typing", "getpass", "scramp"}, (args, imported)


def test_send_help_still_comes_from_click():
    imported, proc = _imported_by("send", "--help")
    assert proc.returncode == 0 and "--xclient-addr" in proc.stdout and "click" in imported
