"""Finding the line of a key in a scenario file, for error messages.

tomllib reports no positions for valid TOML, so this scans the text for the `[[scenario]]` and
`[[scenario.step]]` headers and the key inside them. Best effort: None when the file is written in a
form it does not follow (inline tables), and the message then names the scenario and key alone.
"""

from __future__ import annotations

import re

_SCENARIO = re.compile(r"^\s*\[\[\s*scenario\s*\]\]")
_STEP = re.compile(r"^\s*\[\[\s*scenario\s*\.\s*step\s*\]\]")
_HEADER = re.compile(r"^\s*\[")


class Locator:
    def __init__(self, text: str):
        self.lines = text.splitlines()

    def _find(self, pattern: re.Pattern[str], start: int = 0, end: int | None = None) -> list[int]:
        stop = len(self.lines) if end is None else end
        return [i for i in range(start, stop) if pattern.match(self.lines[i])]

    def _scenario_block(self, index: int) -> tuple[int, int] | None:
        starts = self._find(_SCENARIO)
        if index >= len(starts):
            return None
        end = starts[index + 1] if index + 1 < len(starts) else len(self.lines)
        return starts[index], end

    def _step_block(self, index: int, number: int) -> tuple[int, int] | None:
        block = self._scenario_block(index)
        if block is None:
            return None
        starts = self._find(_STEP, *block)
        if not 1 <= number <= len(starts):
            return None
        nxt = [
            i
            for i in range(starts[number - 1] + 1, block[1])
            if _HEADER.match(self.lines[i])
            and not re.match(r"^\s*\[\s*scenario\s*\.\s*step\s*\.", self.lines[i])
        ]
        return starts[number - 1], nxt[0] if nxt else block[1]

    def _key_in(self, key: str, start: int, end: int) -> int | None:
        first = re.split(r"[.\[]", key, maxsplit=1)[0].strip()
        pattern = re.compile(rf"^\s*(\"?{re.escape(first)}\"?\s*=|\[[^\]]*\.{re.escape(first)}\s*\])")
        for i in range(start, end):
            if pattern.match(self.lines[i]):
                return i + 1
        return None

    def top_key(self, key: str) -> int | None:
        pattern = re.compile(rf"^\s*(\[\[?\s*{re.escape(key)}\s*\]|{re.escape(key)}\s*=)")
        hits = self._find(pattern)
        return hits[0] + 1 if hits else None

    def scenario_line(self, scenario_id: str) -> int | None:
        pattern = re.compile(rf"^\s*id\s*=\s*[\"']{re.escape(scenario_id)}[\"']")
        hits = self._find(pattern)
        return hits[0] + 1 if hits else None

    def step_line(self, index: int, number: int) -> int | None:
        block = self._step_block(index, number)
        return block[0] + 1 if block else None

    def key_line(self, index: int, key: str, step: int | None = None) -> int | None:
        """The line of `key` in scenario `index` (0-based) or in its step `step` (1-based); else the
        header's line."""
        if step is not None:
            block = self._step_block(index, step)
        else:
            scenario = self._scenario_block(index)
            block = None
            if scenario is not None:
                steps = self._find(_STEP, *scenario)
                block = (scenario[0], steps[0] if steps else scenario[1])
        if block is None:
            return None
        return self._key_in(key, block[0] + 1, block[1]) or block[0] + 1
