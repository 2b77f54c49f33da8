"""The compatibility matrix: smtpprobe's verdicts on every bed server, set against what really happened.

Used by scripts/compat-matrix (writes docs/compatibility.md) and tests/test_compatibility.py (asserts).

Consequence-checkable results (``checked_cells``):
    ``open-relay/<case>``      truth: ``relay_truth`` sends a complete message with the same MAIL/RCPT the
                               probe used, on the same port; relayed = it reached the foreign-domain catch-all.
    ``smtp-smuggling/<case>[-split]``  truth: ``smuggle_truth`` with the case's end-of-data sequence, sent
                               the way the result's probe sent it (one write, or split: the smuggled commands
                               in a later write); harm = a smuggled message landed in the mailbox.
Agreement: a fail verdict where the harm is real; where it is not, anything but fail. A skip or error (the
engine says it could not test) is no claim either way and is left out; tests/test_compatibility.py requires
nearly every cell to be a claim.
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
from tests.servers._mta_truth import Closed, Truth, relay_truth, smuggle_truth

HELO = "client.example.org"
CHECKED_PREFIXES = ("open-relay/", "smtp-smuggling/")


def smtpprobe_run(
    inst: BedInstance,
    *,
    policy: str = "rfc",
    only: tuple[str, ...] = (),
    credentials: bool = False,
    timeout: float = 300,
) -> dict:
    """`smtpprobe run --format json` against the instance (its own process, as a user runs it).
    credentials: give the instance's AUTH credentials, where it has some (the AUTH-first gate case)."""
    cmd = [sys.executable, "-m", "smtpprobe", "run", *inst.smtpprobe_args(), "--helo", HELO]
    if credentials and getattr(inst, "auth_user", None):
        cmd += ["--auth-user", inst.auth_user, "--auth-password", inst.auth_password]  # type: ignore[attr-defined]
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
    adds (``-split``); the longest case id that matches."""
    rest = result_id.split("/", 1)[1] if "/" in result_id else ""
    matches = [c for c in case_ids if rest == c or rest.startswith((c + "/", c + "-"))]
    return max(matches, key=len) if matches else None


# Cells the engine still gets wrong: (instance, result id) -> why. tests/test_compatibility.py leaves them
# out of its assertion; docs/compatibility.md names them. Empty: the last 20 (Postfix relaying the %, ! and
# quoted address tricks, once called a warn) are judged by the made-up-user control of 40-relay.toml.
KNOWN_WRONG: dict[tuple[str, str], str] = {}


def known_wrong(instance: str, result_id: str) -> str | None:
    for (inst, rid), why in KNOWN_WRONG.items():
        if instance == inst and (result_id == rid or result_id.startswith(rid + "/")):
            return why
    return None


UNTESTED = ("skip", "error")


@dataclass
class Cell:
    instance: str  # bed instance name, e.g. "exim-hardened"
    id: str  # result id, e.g. "open-relay/percent-hack-ip"
    role: str
    verdict: str
    reason: str
    reply: str = ""  # the last reply smtpprobe read (what decided a pass)
    kind: str = ""  # "relay" / "smuggling" / "" (not consequence-checked)
    harm: bool | None = None  # what really happened (None: not checked)
    evidence: str = ""

    @property
    def agrees(self) -> bool | None:
        """True/False for consequence-checked cells; None where there is nothing to check, or where the
        engine made no claim (skip: not applicable / a gate it could not pass; error: could not test, e.g.
        no greeting in time on a loaded runner)."""
        if self.harm is None or self.verdict in UNTESTED:
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

    def smuggling(self, inst: BedInstance, role: str, case: str, eod: bytes, split: bool) -> Truth:
        key = ("smuggling", inst.name, role, case, split)
        if key not in self.cache:
            t = smuggle_truth(inst, eod, split=split, role=role)
            how = "split (later write)" if split else "in one write"
            t.evidence = (
                f"smuggled message delivered, sent {how}"
                if t.happened
                else f"no smuggled message delivered, sent {how}"
            )
            self.cache[key] = t
        return self.cache[key]


def _last_reply(result: dict) -> str:
    replies = [t.get("text", "") for t in result.get("transcript", []) if t.get("kind") == "received"]
    return replies[-1] if replies else ""


def _truth_key(inst: BedInstance, rid: str, role: str, relays: dict, sequences: dict) -> tuple | None:
    if role not in inst.ports:
        return None
    if rid.startswith("open-relay/"):
        case = _case_of(rid, list(relays))
        return ("relay", role, case) if case else None
    if rid.startswith("smtp-smuggling/"):
        case = _case_of(rid, list(sequences))
        split = rid.endswith(("-split", "/split"))  # each variant against the same write pattern
        return ("smuggling", role, case, split) if case else None
    return None


def cells_for(
    inst: BedInstance, report: dict, truths: TruthCache | None = None, workers: int = 6
) -> list[Cell]:
    """Every result of one run as a Cell; relay and smuggling results get their truth (the truth probes
    run in parallel: most of their time is a bounded wait for a server that stays in DATA)."""
    sequences = smuggling_sequences()
    relays = relay_cases(inst)
    keyed = []
    for res in report.get("results", []):
        rid, role = res["id"], res.get("role", "mx")
        cell = Cell(inst.name, rid, role, res["verdict"], res.get("reason", "") or "", _last_reply(res))
        key = _truth_key(inst, rid, role, relays, sequences) if truths is not None else None
        keyed.append((cell, key))

    def get(key: tuple) -> Truth | str:
        kind, role, case = key[:3]
        last = ""
        for _attempt in range(2):  # a busy server may miss one greeting deadline; never guess a truth
            try:
                if kind == "relay":
                    return truths.relay(inst, role, *relays[case])  # type: ignore[union-attr]
                return truths.smuggling(inst, role, case, sequences[case], key[3])  # type: ignore[union-attr]
            except (OSError, Closed) as e:
                last = f"{type(e).__name__}: {e}"
        return last

    keys = sorted({k for _c, k in keyed if k is not None})
    with ThreadPoolExecutor(workers) as ex:
        found = dict(zip(keys, ex.map(get, keys), strict=True))
    for cell, key in keyed:
        if key is not None:
            t = found[key]
            if isinstance(t, str):  # the truth probe itself could not talk to the server: unchecked
                cell.kind, cell.evidence = key[0], f"truth probe failed twice ({t})"
            else:
                cell.kind, cell.harm, cell.evidence = key[0], t.happened, t.evidence
    return [c for c, _k in keyed]


def check_instances(
    insts: list[BedInstance],
    *,
    policy: str = "rfc",
    only: tuple[str, ...] = (),
    credentials: bool = False,
    workers: int = 4,
) -> tuple[list[Cell], dict[str, dict]]:
    """Run smtpprobe on each instance (several at once), then the truths."""
    truths = TruthCache()
    with ThreadPoolExecutor(workers) as ex:
        reports = dict(
            zip(
                [i.name for i in insts],
                ex.map(lambda i: smtpprobe_run(i, policy=policy, only=only, credentials=credentials), insts),
                strict=True,
            )
        )
    with ThreadPoolExecutor(workers) as ex:
        per = list(ex.map(lambda i: cells_for(i, reports[i.name], truths), insts))
    return [c for cs in per for c in cs], reports
