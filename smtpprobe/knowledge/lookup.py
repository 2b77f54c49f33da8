"""Turn a parsed reply into an Explanation using the knowledge data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smtpprobe.knowledge.parse import Parsed, parse
from smtpprobe.knowledge.store import Advice, EnhancedCode, Knowledge, ServerEntry, load

SCHEMA = 1
_KIND = {"2": "success", "3": "intermediate", "4": "temporary failure", "5": "permanent refusal"}
_SEVERITY = {"2": "success", "3": "intermediate", "4": "transient", "5": "permanent"}


@dataclass(frozen=True)
class Match:
    """A known server text found in the reply."""

    id: str
    server: str
    title: str
    short: str
    meaning: str
    side: str  # "sender" (fix your side), "receiver" (their policy or state), "either"
    causes: tuple[str, ...]
    checks: tuple[str, ...]
    commands: tuple[str, ...]
    scenarios: tuple[str, ...]
    notes: tuple[str, ...]
    source: str
    usual_codes: tuple[int, ...]
    usual_enhanced: tuple[str, ...]

    @classmethod
    def of(cls, e: ServerEntry) -> Match:
        a = e.advice
        return cls(
            e.id, e.server, e.title, e.short, e.meaning, e.side, a.causes, a.checks, a.commands, e.scenarios,
            a.notes, e.source, e.codes, e.enhanced,
        )  # fmt: skip


@dataclass(frozen=True)
class Explanation:
    """Everything smtpprobe knows about one reply. `to_dict()` is the `--json` form (schema 1)."""

    input: str
    code: int | None
    enhanced: str | None
    text: str
    severity: str  # success | intermediate | transient | permanent
    permanent: bool | None  # None for 2xx/3xx
    transient: bool | None
    standard: bool  # the basic code (or, without one, the enhanced code) is a standard one
    basic_meaning: str | None
    basic_short: str | None
    basic_rfc: str | None
    digits: tuple[str, ...]  # first- and second-digit meanings of the basic code
    enhanced_standard: bool | None
    enhanced_meaning: str | None  # "Permanent failure · Security or policy status · Multiple ..."
    enhanced_class: str | None
    enhanced_subject: str | None
    enhanced_detail: str | None
    enhanced_rfc: str | None
    matches: tuple[Match, ...] = ()
    related: tuple[str, ...] = ()  # known texts sent with this code, when no text was given
    causes: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def side(self) -> str | None:
        """Whose move: "sender", "receiver" or "either" (from the first matched server text), else None."""
        return self.matches[0].side if self.matches else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "input": self.input,
            "code": self.code,
            "enhanced": self.enhanced,
            "text": self.text,
            "severity": self.severity,
            "permanent": self.permanent,
            "transient": self.transient,
            "standard": self.standard,
            "basic": None
            if self.code is None
            else {
                "code": self.code,
                "meaning": self.basic_meaning,
                "rfc": self.basic_rfc,
                "digits": list(self.digits),
            },
            "enhanced_code": None
            if self.enhanced is None
            else {
                "code": self.enhanced,
                "standard": self.enhanced_standard,
                "meaning": self.enhanced_meaning,
                "class": self.enhanced_class,
                "subject": self.enhanced_subject,
                "detail": self.enhanced_detail,
                "rfc": self.enhanced_rfc,
            },
            "side": self.side,
            "matches": [
                {
                    "id": m.id,
                    "server": m.server,
                    "title": m.title,
                    "meaning": m.meaning,
                    "side": m.side,
                    "causes": list(m.causes),
                    "checks": list(m.checks),
                    "commands": list(m.commands),
                    "scenarios": list(m.scenarios),
                    "notes": list(m.notes),
                    "source": m.source,
                }
                for m in self.matches
            ],
            "related": list(self.related),
            "causes": list(self.causes),
            "checks": list(self.checks),
            "commands": list(self.commands),
            "notes": list(self.notes),
        }


def explain(text: str) -> Explanation:
    """Explain a code, an enhanced code, or a pasted reply/bounce. Raises UsageError on unreadable input."""
    return explain_parsed(parse(text))


def explain_reply(code: int | None, enhanced: str | None, text: str) -> Explanation:
    """Explain a reply already split into its parts (what the client and the REPL hold)."""
    raw = " ".join(str(p) for p in (code, enhanced, text) if p)
    return explain_parsed(Parsed(code=code, enhanced=enhanced, text=" ".join(text.split()), raw=raw))


def explain_parsed(p: Parsed) -> Explanation:
    kb = load()
    notes: list[str] = []
    code, enhanced = p.code, p.enhanced

    # --- basic code
    basic = kb.basic.get(code) if code is not None else None
    digits: tuple[str, ...] = ()
    if code is not None:
        first, second = str(code)[0], str(code)[1]
        digits = (f"{first}yz: {kb.first_digit[first]}",)
        if second in kb.second_digit:
            digits += (f"x{second}z: {kb.second_digit[second]}",)
        if basic is None:  # one note, said once: why the code is not standard, and how it is read
            why = (
                f" (its second digit {second} is outside the 0-5 that RFC 5321 §4.2.1 defines)"
                if second not in kb.second_digit
                else ""
            )
            notes.append(
                f"{code} is not a standard SMTP reply code{why}: RFC 5321 §4.3.2 says to read it by its first "
                f"digit only, so {code} is handled as {first}yz ({_KIND[first]})."
            )

    # --- enhanced code
    ecls = esub = edet = erfc = emeaning = None
    estd: bool | None = None
    eentry: EnhancedCode | None = None
    if enhanced is not None:
        c, s, d = enhanced.split(".")
        ecls = kb.classes.get(c)
        esub = kb.subjects.get(s)
        eentry = kb.vendor.get(enhanced) or kb.enhanced.get(f"X.{s}.{d}")
        estd = eentry is not None and eentry.standard
        if eentry is not None:
            edet, erfc = eentry.meaning, eentry.rfc or None
        parts = [
            ecls or f"class {c}",
            esub or f"unknown subject {s}",
            edet or f"detail {d} (not in the IANA registry)",
        ]
        emeaning = " · ".join(parts)
        if eentry is not None and not eentry.standard:
            notes.append(
                f"{enhanced} is not in the IANA registry (RFC 5248): it is a vendor code of {eentry.provider}; "
                f"read it by class and subject ({ecls}, {esub or 'unknown subject'})."
            )
        elif eentry is None:
            notes.append(
                f"{enhanced} is not in the IANA registry (RFC 5248); read it by class and subject only "
                f"({ecls}, {esub or 'unknown subject'})."
            )
        if code is not None and str(code)[0] != c and str(code)[0] in "245":
            notes.append(
                f"Mismatch: basic code {code} is {_SEVERITY[str(code)[0]]} but enhanced class {c} says "
                f"{_SEVERITY[c]} (RFC 3463 §2: the class must agree with the basic code). Clients act on the "
                f"basic code; the server's reply is inconsistent."
            )
        elif code is not None and str(code)[0] == "3":
            notes.append(
                f"A 3yz reply carries no enhanced status code (RFC 2034); {enhanced} is unexpected here."
            )

    # --- severity
    lead = str(code)[0] if code is not None else (enhanced[0] if enhanced else "5")
    severity = _SEVERITY[lead]
    permanent = {"5": True, "4": False}.get(lead)
    transient = {"5": False, "4": True}.get(lead)

    # --- server texts
    matches = _match(kb, p.text) or (_match(kb, " ".join(p.raw.split())) if p.text != p.raw else ())
    for m in matches:
        if m.usual_codes and code is not None and code not in m.usual_codes:
            usual = ", ".join(str(c) for c in m.usual_codes)
            notes.append(f"{m.server} sends '{m.title}' with {usual}; here it came with {code}.")

    related: tuple[str, ...] = ()
    if not p.text and not matches:
        related = _related(kb, code, enhanced)

    # --- advice: the most specific source that has any wins (server text > enhanced code > basic code)
    general = [a for a in (eentry.advice if eentry else None, basic.advice if basic else None) if a]
    specific = [_advice_of(m) for m in matches]
    causes = _first_nonempty([a.causes for a in specific], [a.causes for a in general])
    checks = _first_nonempty([a.checks for a in specific], [a.checks for a in general])
    commands = _first_nonempty([a.commands for a in specific], [a.commands for a in general])
    said = f"{code} is not " if basic is None and code is not None else None
    notes.extend(  # a server entry's own note on the same non-standard code would say it a second time
        n for n in _merge([a.notes for a in specific + general]) if not (said and n.startswith(said))
    )

    return Explanation(
        input=p.raw,
        code=code,
        enhanced=enhanced,
        text=p.text,
        severity=severity,
        permanent=permanent,
        transient=transient,
        standard=basic is not None if code is not None else bool(estd),
        basic_meaning=basic.meaning if basic else (f"Non-standard code: {_KIND[lead]}" if code else None),
        basic_short=basic.short if basic else None,
        basic_rfc=basic.rfc if basic else None,
        digits=digits,
        enhanced_standard=estd,
        enhanced_meaning=emeaning,
        enhanced_class=ecls,
        enhanced_subject=esub,
        enhanced_detail=edet,
        enhanced_rfc=erfc,
        matches=matches,
        related=related,
        causes=causes,
        checks=checks,
        commands=commands,
        notes=tuple(dict.fromkeys(notes)),
    )


def _match(kb: Knowledge, text: str) -> tuple[Match, ...]:
    if not text:
        return ()
    return tuple(Match.of(e) for e in kb.entries if e.pattern.search(text))


def _advice_of(m: Match) -> Advice:
    return Advice(causes=m.causes, checks=m.checks, commands=m.commands, notes=m.notes)


def _related(kb: Knowledge, code: int | None, enhanced: str | None) -> tuple[str, ...]:
    out = []
    for e in kb.entries:
        if (code is None or code in e.codes) and (enhanced is None or enhanced in e.enhanced):
            out.append(f"{e.server}: {e.title} ({e.id})")
    return tuple(out)


def _first_nonempty(*levels: list[tuple[str, ...]]) -> tuple[str, ...]:
    for level in levels:
        merged = _merge(level)
        if merged:
            return merged
    return ()


def _merge(groups: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut between words and marked with an ellipsis, never mid-word."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:(")
    return cut + "…"


def short_note(code: int, enhanced: str | None = None, text: str = "") -> str:
    """One line for the REPL beside each reply, e.g. "550 = permanent refusal: mailbox unavailable / policy".

    Never raises: an unknown or odd reply still gets a note from its first digit.
    """
    try:
        kb = load()
        first = str(code)[0]
        kind = _KIND.get(first, "unknown class")
        entry = next((e for e in kb.entries if text and e.pattern.search(" ".join(text.split()))), None)
        basic = kb.basic.get(code)
        if entry is not None:
            what = f"{entry.short} ({entry.server})"
        elif basic is not None:
            what = basic.short
        else:
            return f"{code} = non-standard code, read as {first}yz: {kind}"
        note = f"{code} = {kind}: {what}"
        if enhanced and entry is None:
            c, s, d = enhanced.split(".")
            detail = kb.vendor.get(enhanced) or kb.enhanced.get(f"X.{s}.{d}")
            if detail is not None:
                note += f" [{enhanced}: {clip(detail.meaning, 60)}]"
            if c != first and first in "245":
                note += " (class mismatch)"
        return note
    except Exception:  # noqa: BLE001 - a note must never break the REPL
        return f"{code}"
