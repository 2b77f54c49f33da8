"""A stored transcript (Transcript.to_json()) back to swaks-style lines."""

from __future__ import annotations

from smtpprobe.transcript import Event, TextRenderer


def transcript_lines(events: list[dict], colour: bool = False) -> list[str]:
    renderer = TextRenderer(colour=colour)
    lines: list[str] = []
    for item in events:
        event = Event(
            item["ms"],
            item["kind"],
            item["text"],
            tls=item.get("tls", False),
            refused=item.get("refused", False),
        )
        lines.extend(renderer.lines(event))
    return lines
