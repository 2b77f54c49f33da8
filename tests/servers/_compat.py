"""The compatibility matrix: smtpprobe's verdicts on every bed server, set against what really happened.

Used by scripts/compat-matrix (writes docs/compatibility.md) and tests/test_compatibility.py (asserts).

Consequence-checkable results (``checked_cells``):
    ``open-relay/<case>``      truth: ``relay_truth`` sends a complete message with the same MAIL/RCPT the
                               probe used, on the same port; relayed = it reached the foreign-domain catch-all.
    ``smtp-smuggling/<case>``  truth: ``smuggle_truth`` with the case's end-of-data sequence, in one write and
                               split; vulnerable = a smuggled message landed in the mailbox either way.
Agreement: a fail verdict where the harm is real; where it is not, anything but fail. A skip (not tested,
a gate we could not pass) agrees only when nothing happened.
"""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.servers._mta_bed import ROOT, BedInstance
from tests.servers._mta_truth import Truth, relay_truth, smuggle_truth

HELO = "client.example.org"
CHECKED_PREFIXES = ("open-relay/", "smtp-smuggling/")


def smtpprobe_run(
    inst: BedInstance, *, policy: str = "rfc", only: tuple[str, ...] = (), timeout: float = 300
) -> dict:
    """`smtpprobe run --format json` against the instance (its own process, as a user runs it)."""
    cmd = [sys.executable, "-m", "smtpprobe", "run", *inst.smtpprobe_args(), "--helo", HELO]
    cmd += ["--policy", policy, "--format", "json"]
    for o in only:
        cmd += ["--only", o]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        raise RuntimeError(f"smtpprobe run gave no JSON (exit {r.returncode}): {r.stderr[-2000:]}") from None
    report["exit_code"] = r.returncode
    return report


def _catalogue_file(name: str) -> Path:
    import smtpprobe.catalogue as cat

    return Path(cat.__file__).parent / name


def smuggling_sequences() -> dict[str, bytes]:
    """Case id -> end-of-data bytes, from the catalogue's smuggling scenario (escapes as data_raw sends them)."""
    data = tomllib.loads(_catalogue_file("60-smuggling.toml").read_text())
    out = {}
    for sc in data["scenario"]:
        for case in sc.get("cases", []):
            if "eod" in case:
                out[case["id"]] = codecs.decode(case["eod"], "unicode_escape").encode("latin-1")
    return out


def relay_cases(inst: BedInstance, foreign_rcpt: str = "relaytest@example.net") -> dict[str, tuple[str, str]]:
    """Case id -> (MAIL address, RCPT address) of the catalogue's open-relay scenario, expanded as the
    probe expands them for this instance (greeting name mx.lab.test, literal [127.0.0.1])."""
    data = tomllib.loads(_catalogue_file("40-relay.toml").read_text())
    user, domain = foreign_rcpt.split("@")
    names = dict(data.get("vars", {}))
    names.update(
        foreign_user=user, foreign_domain=domain, server_literal=f"[{inst.host}]", server_name=inst.myhostname
    )
    out = {}
    for sc in data["scenario"]:
        for case in sc.get("cases", []):
            if "rcpt" in case:
                out[case["id"]] = (case["mail"].format(**names), case["rcpt"].format(**names))
    return out


def _case_of(result_id: str, case_ids: list[str]) -> str | None:
    """The catalogue case a result id belongs to: ``<scenario>/<case>`` possibly with a suffix the engine
    adds (``/split``, ``/tls``...); the longest case id that matches."""
    rest = result_id.split("/", 1)[1] if "/" in result_id else ""
    matches = [c for c in case_ids if rest == c or rest.startswith((c + "/", c + "@"))]
    return max(matches, key=len) if matches else None


@dataclass
class Cell:
    instance: str  # bed instance name, e.g. "exim-hardened"
    id: str  # result id, e.g. "open-relay/percent-hack-ip"
    role: str
    verdict: str
    reason: str
    kind: str = ""  # "relay" / "smuggling" / "" (not consequence-checked)
    harm: bool | None = None  # what really happened (None: not checked)
    evidence: str = ""

    @property
    def agrees(self) -> bool | None:
        """True/False for consequence-checked cells; None where there is nothing to check."""
        if self.harm is None:
            return None
        if self.harm:
            return self.verdict == "fail"
        return self.verdict != "fail"


class TruthCache:
    """Truths are per (instance, role, input): several results (ports, policies) share one probe."""

    def __init__(self) -> None:
        self.cache: dict[tuple, Truth] = {}

    def relay(self, inst: BedInstance, role: str, mail: str, rcpt: str) -> Truth:
        key = ("relay", inst.name, role, mail, rcpt)
        if key not in self.cache:
            self.cache[key] = relay_truth(inst, mail, rcpt, role)
        return self.cache[key]

    def smuggling(self, inst: BedInstance, role: str, case: str, eod: bytes) -> Truth:
        key = ("smuggling", inst.name, role, case)
        if key not in self.cache:
            one = smuggle_truth(inst, eod, split=False, role=role)
            split = one if one.happened else smuggle_truth(inst, eod, split=True, role=role)
            how = "in one write" if one.happened else "split (later write)" if split.happened else ""
            evidence = (
                f"smuggled message delivered, sent {how}"
                if how
                else "no smuggled message delivered (one write, split)"
            )
            self.cache[key] = Truth(split.happened, split.accepted, split.transcript, evidence)
        return self.cache[key]


def cells_for(inst: BedInstance, report: dict, truths: TruthCache | None = None) -> list[Cell]:
    """Every result of one run as a Cell; relay and smuggling results get their truth."""
    sequences = smuggling_sequences()
    relays = relay_cases(inst)
    out = []
    for res in report.get("results", []):
        rid, role = res["id"], res.get("role", "mx")
        cell = Cell(inst.name, rid, role, res["verdict"], res.get("reason", "") or "")
        if truths is not None and role in inst.ports:
            if rid.startswith("open-relay/"):
                case = _case_of(rid, list(relays))
                if case:
                    t = truths.relay(inst, role, *relays[case])
                    cell.kind, cell.harm, cell.evidence = "relay", t.happened, t.evidence
            elif rid.startswith("smtp-smuggling/"):
                case = _case_of(rid, list(sequences))
                if case:
                    t = truths.smuggling(inst, role, case, sequences[case])
                    cell.kind, cell.harm, cell.evidence = "smuggling", t.happened, t.evidence
        out.append(cell)
    return out


def check_instances(
    insts: list[BedInstance], *, policy: str = "rfc", only: tuple[str, ...] = (), workers: int = 4
) -> tuple[list[Cell], dict[str, dict]]:
    """Run smtpprobe on each instance, then the truths (in parallel across instances)."""
    truths = TruthCache()

    def one(inst: BedInstance) -> tuple[list[Cell], dict]:
        report = smtpprobe_run(inst, policy=policy, only=only)
        return cells_for(inst, report, truths), report

    cells: list[Cell] = []
    reports: dict[str, dict] = {}
    with ThreadPoolExecutor(workers) as ex:
        for inst, (cs, rep) in zip(insts, ex.map(one, insts), strict=True):
            cells += cs
            reports[inst.name] = rep
    return cells, reports
