"""Every module in tests/servers/ is a pytest plugin: real servers (Postfix, DNS, lab, hostile
fixtures) started by the tests themselves, on loopback only."""

import os
import pkgutil
from pathlib import Path

pytest_plugins = [
    f"tests.servers.{module.name}"
    for module in pkgutil.iter_modules([str(Path(__file__).parent / "servers")])
    if not module.name.startswith("_")
]

# The TLS scans' DANE and MTA-STS look-ups use SMTPPROBE_RESOLVER, else the system's resolver, which is not on
# loopback: a test that forgets to name the test DNS server gets a refused look-up, never traffic off the host.
os.environ.setdefault("SMTPPROBE_RESOLVER", "127.0.0.1:9")
