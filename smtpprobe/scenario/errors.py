"""A broken scenario file: one line naming the file (and line), the scenario and the key. Exit 2."""

from __future__ import annotations

from smtpprobe.errors import UsageError


class SpecError(ValueError):
    """Raised while validating one value; the loader adds the file, scenario and line."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


class ScenarioError(UsageError):
    def __init__(
        self,
        file: str,
        message: str,
        *,
        scenario: str | None = None,
        step: int | None = None,
        key: str | None = None,
        line: int | None = None,
    ):
        self.file, self.scenario, self.step, self.key, self.line = file, scenario, step, key, line
        where = [
            f"scenario {scenario!r}" if scenario else None,
            f"step {step}" if step else None,
            f"key {key!r}" if key else None,
        ]
        located = f"{file}:{line}" if line else file
        context = ", ".join(w for w in where if w)
        super().__init__(f"{located}: {context + ': ' if context else ''}{message}")
