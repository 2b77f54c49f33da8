"""smtpprobe's relay and smuggling verdicts agree with what really happens on every server of the bed.

For each bed instance (tests/servers/mtabed.py) `smtpprobe run --only relay` / `--only smuggling --format
json` runs as a user runs it; each result is then set against the consequence on that server, found by our
own client and the server's own storage (tests/servers/_compat.py, _mta_truth.py):

    open-relay/<case>      pass <=> the same MAIL/RCPT with a complete message did NOT reach the
                           foreign-domain catch-all; fail <=> it did.
    smtp-smuggling/<case>[-split]  pass <=> the same sequence, sent the same way (one write, or the
                           smuggled commands in a later write), landed no smuggled message in the
                           mailbox; fail <=> it did.

docs/compatibility.md is the full table (scripts/compat-matrix). Cells the engine still gets wrong would be
listed in tests/servers/_compat.py KNOWN_WRONG (empty now), left out of the assertion and named in that
document; everything else must agree.
"""

from __future__ import annotations

import pytest

from tests.servers._compat import Cell, check_instances, smtpprobe_run
from tests.servers._compat import known_wrong as _known_wrong
from tests.servers.mtabed import BED_NAMES

# Smuggling behaviour is the server binary's (and, for Postfix, smtpd_forbid_bare_newline's), not the
# relay policy's: one instance per distinct behaviour keeps this test short.
SMUGGLING_INSTANCES = [
    "postfix-hardened",
    "postfix-permissive",
    "postfix-starttls-gate",
    "exim-hardened",
    "opensmtpd-hardened",
    "chasquid-hardened",
    "haraka-hardened",
    "smtp-server-hardened",
    "smtp-server-auth-first",
]


def known_wrong(cell: Cell) -> str | None:
    return _known_wrong(cell.instance, cell.id)


@pytest.fixture(scope="module")
def relay_cells(mtabed) -> list[Cell]:
    cells, _reports = check_instances([mtabed.get(n) for n in BED_NAMES], only=("relay",))
    return cells


@pytest.fixture(scope="module")
def smuggling_cells(mtabed) -> list[Cell]:
    # with the AUTH-first instance's credentials: past its gate the probes (and the truth) test smuggling
    insts = [mtabed.get(n) for n in SMUGGLING_INSTANCES]
    cells, _reports = check_instances(insts, only=("smuggling",), credentials=True)
    return cells


def _disagreements(cells: list[Cell]) -> str:
    return "\n".join(
        f"  {c.id} ({c.role}): verdict {c.verdict}, but {c.evidence} -- {c.reason or c.reply}" for c in cells
    )


@pytest.mark.parametrize("name", list(BED_NAMES))
def test_relay_verdicts_agree_with_what_was_relayed(relay_cells, name):
    cells = [c for c in relay_cells if c.instance == name and c.kind == "relay"]
    tested = [c for c in cells if c.agrees is not None]
    # 16 cases per port; an error (no greeting in time on a loaded runner) is no claim: allow two
    assert len(cells) >= 16 and len(tested) >= len(cells) - 2, [(c.id, c.verdict, c.reason) for c in cells]
    wrong = [c for c in cells if c.agrees is False and not known_wrong(c)]
    assert not wrong, f"{name}: relay verdicts that contradict the server:\n{_disagreements(wrong)}"


TRICKS = (
    "percent-hack-ip", "percent-hack-name", "quoted-at", "quoted-percent", "double-at-ip",
    "quoted-double-at-ip", "double-at-name", "bang-path", "bang-path-ip", "bang-path-name",
)  # fmt: skip


def test_address_tricks_are_judged_by_what_the_server_does_with_them(relay_cells):
    """The %, ! and quoted forms at the server's own address: Postfix rewrites them and relays to
    example.net (fail, with the made-up local user of the control refused); Exim takes them, if at all,
    for itself and never relays (never a fail). Each verdict here is also checked cell by cell above."""
    tricks = {(c.instance, c.id): c for c in relay_cells if c.id.removeprefix("open-relay/") in TRICKS}
    for inst in ("postfix-permissive", "postfix-starttls-gate"):
        for case in TRICKS:
            c = tricks[(inst, f"open-relay/{case}")]
            assert c.harm and c.verdict == "fail", (inst, case, c.verdict, c.evidence, c.reason)
            assert "nosuchuser-smtpprobe-7f3a" in c.reason, c.reason  # the control decided it
    exim = [c for (inst, _rid), c in tricks.items() if inst.startswith("exim-")]
    assert len(exim) == 2 * len(TRICKS) and all(c.verdict != "fail" and c.harm is False for c in exim), [
        (c.instance, c.id, c.verdict, c.reason) for c in exim
    ]


@pytest.mark.parametrize("name", SMUGGLING_INSTANCES)
def test_smuggling_verdicts_agree_with_the_mailbox(smuggling_cells, name):
    cells = [c for c in smuggling_cells if c.instance == name and c.kind == "smuggling"]
    tested = [c for c in cells if c.agrees is not None]
    assert len(cells) >= 28 and len(tested) >= len(cells) - 2, [(c.id, c.verdict, c.reason) for c in cells]
    wrong = [c for c in cells if c.agrees is False and not known_wrong(c)]
    assert not wrong, f"{name}: smuggling verdicts that contradict the mailbox:\n{_disagreements(wrong)}"


def test_the_bed_has_both_kinds_of_truth(relay_cells, smuggling_cells):
    """The assertions above are not vacuous: the bed holds real open relays and really smugglable
    servers, and refusing ones of both kinds."""
    relay = [c for c in relay_cells if c.kind == "relay"]
    smug = [c for c in smuggling_cells if c.kind == "smuggling"]
    assert any(c.harm for c in relay) and any(c.harm is False for c in relay)
    assert any(c.harm for c in smug) and any(c.harm is False for c in smug)
    assert {c.instance for c in smug if c.harm} >= {"chasquid-hardened", "opensmtpd-hardened"}
    assert "postfix-starttls-gate" in {c.instance for c in relay if c.harm}


@pytest.mark.parametrize("name", SMUGGLING_INSTANCES)
def test_every_smuggling_sequence_is_probed_in_one_write_and_split(smuggling_cells, name):
    """chasquid and OpenSMTPD only show their smuggling when the smuggled bytes come in a later write: a
    catalogue without the split variant would agree cell by cell and still miss them."""
    ids = {c.id for c in smuggling_cells if c.instance == name and c.kind == "smuggling"}
    one = {i for i in ids if not i.endswith("-split")}
    assert len(one) == 14 and {f"{i}-split" for i in one} <= ids, sorted(ids)


@pytest.mark.parametrize(
    "name", ["exim-permissive", "opensmtpd-permissive", "haraka-permissive", "smtp-server-permissive"]
)
def test_a_default_run_delivers_and_relays_nothing(mtabed, name):
    """`smtpprobe run` with no selection, against an open relay: the probes that deliver mail are opt-in
    and the relay probes stop at RCPT, so nothing lands in the mailboxes or the foreign-domain catch-all."""
    inst = mtabed.get(name)
    before = (len(inst.delivered()), len(inst.relayed()))
    report = smtpprobe_run(inst)
    assert report["results"] and report["exit_code"] == 1  # it is an open relay: the run says so
    assert (len(inst.delivered()), len(inst.relayed())) == before


def test_auth_gate_without_credentials_is_not_tested_never_passed(mtabed):
    """Without credentials, a server that demands AUTH before MAIL gives the smuggling probes nothing to
    judge: each result says so, naming the gate (issue 11: never a pass)."""
    inst = mtabed.get("smtp-server-auth-first")
    report = smtpprobe_run(inst, only=("smtp-smuggling/lf-lf",))
    assert report["results"]
    for r in report["results"]:
        assert r["verdict"] == "skip" and "530 Error: authentication Required" in r["reason"], r
