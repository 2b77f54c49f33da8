"""The built-in catalogue ships inside the package: a wheel built from the source holds
smtpprobe/catalogue/*.toml (scenarios/ is the real folder; smtpprobe/catalogue is a symlink to it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_a_wheel_carries_the_catalogue(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "smtpprobe", source / "smtpprobe", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "scenarios", source / "scenarios", ignore=ignore)
    assert (source / "smtpprobe" / "catalogue").is_symlink()
    run = subprocess.run(
        check=False,
        args=[
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (wheel,) = (tmp_path / "dist").glob("smtpprobe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("smtpprobe/catalogue/")}
    assert shipped >= {p.name for p in (ROOT / "scenarios").glob("*.toml")} | {"__init__.py"}
    assert len([n for n in shipped if n.endswith(".toml")]) >= 5
