"""Every module in tests/servers/ is a pytest plugin: real servers (Postfix, DNS, lab, hostile
fixtures) started by the tests themselves, on loopback only."""

import pkgutil
from pathlib import Path

pytest_plugins = [
    f"tests.servers.{module.name}"
    for module in pkgutil.iter_modules([str(Path(__file__).parent / "servers")])
    if not module.name.startswith("_")
]
