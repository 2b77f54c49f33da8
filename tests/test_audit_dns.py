"""Integration: `smtpprobe audit` against a real NSD serving tests/zones (no mocked resolver)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from smtpprobe.cli import main

ZONES = Path(__file__).parent / "zones"


class Result:
    def __init__(self, code: int, data: dict[str, Any]) -> None:
        self.code, self.data = code, data
        self.findings = data.get("findings", [])

    def ids(self, severity: str | None = None) -> set[str]:
        return {f["id"] for f in self.findings if severity is None or f["severity"] == severity}

    def get(self, fid: str) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["id"] == fid]


@pytest.fixture
def audit(dns_server):
    def run(*args: str, resolver: str | None = None) -> Result:
        argv = ["audit", *args, "--resolver", resolver or dns_server.address, "--timeout", "2", "--format", "json"]
        if "--dnsbl" not in args:
            argv += ["--dnsbl", "bl.test"]
        out = CliRunner().invoke(main, argv, catch_exceptions=False)
        assert out.exit_code in (0, 1), out.output
        return Result(out.exit_code, json.loads(out.output))

    return run


# --- a domain with everything right --------------------------------------------------------------

def test_good_domain_passes(audit):
    r = audit("good.test", "--ip", "192.0.2.25", "--helo", "mail.good.test", "--dkim-selector", "sel2048",
              "--dkim-selector", "ed")
    assert r.code == 0, r.ids("error")
    d = r.data
    assert d["schema"] == 1 and d["domain"] == "good.test"
    assert d["spf"]["record"].startswith("v=spf1 ip4:192.0.2.16/28")
    assert d["spf"]["lookups"] == 1 and d["spf"]["void_lookups"] == 0 and d["spf"]["result"] == "pass"
    assert {(k["selector"], k["key_type"], k["key_bits"], k["status"]) for k in d["dkim"]} == {
        ("sel2048", "rsa", 2048, "ok"), ("ed", "ed25519", 256, "ok")}
    assert d["dmarc"]["found_at"] == "_dmarc.good.test" and d["dmarc"]["policy"] == "reject"
    assert {"host.mx", "host.fcrdns", "host.helo", "host.dnsbl", "host.mta-sts", "host.tls-rpt",
            "dmarc.report-authorized", "spf.result"} <= r.ids("ok")
    for f in r.findings:
        assert f["id"] and f["severity"] in ("error", "warning", "info", "ok") and f["message"] and "rfc" in f


def test_probing_common_selectors_says_which_were_found(audit):
    r = audit("good.test")
    assert sorted(k["selector"] for k in r.data["dkim"]) == ["google", "selector1"]
    (probed,) = r.get("dkim.probed")
    assert "selector1" in probed["message"] and "google" in probed["message"]
    assert "dkim.not-found" in audit("spf.test").ids("warning")


# --- SPF -----------------------------------------------------------------------------------------

def test_spf_lookup_limit_shows_tree_and_count(audit):
    r = audit("limit.spf.test")
    (f,) = r.get("spf.lookup-limit")
    assert f["severity"] == "error" and "12" in f["message"]
    assert r.data["spf"]["lookups"] == 12
    assert any("include l4.spf.test" in line for line in f["detail"]["tree"])
    assert r.code == 1


def test_spf_exactly_ten_lookups_is_fine(audit):
    r = audit("ten.spf.test", "--ip", "192.0.2.99")
    assert r.data["spf"]["lookups"] == 10 and "spf.lookup-limit" not in r.ids()
    assert r.data["spf"]["result"] == "pass"


def test_spf_limit_evaluated_by_pyspf_is_permerror(audit):
    r = audit("limit.spf.test", "--ip", "198.18.0.1")
    assert r.data["spf"]["result"] == "permerror"


def test_spf_void_lookups(audit):
    r = audit("void.spf.test", "--ip", "192.0.2.30")
    assert r.data["spf"]["void_lookups"] == 3 and "spf.void-limit" in r.ids("error")
    assert r.data["spf"]["result"] == "permerror"


@pytest.mark.parametrize("domain,fid", [("loop1.spf.test", "spf.include-loop"), ("rloop1.spf.test", "spf.redirect-loop")])
def test_spf_loops(audit, domain, fid):
    assert fid in audit(domain).ids("error")


@pytest.mark.parametrize("domain,fid,severity", [
    ("plusall.spf.test", "spf.all-pass", "error"),
    ("qall.spf.test", "spf.all-neutral", "warning"),
    ("noall.spf.test", "spf.no-all", "warning"),
    ("multi.spf.test", "spf.multiple", "error"),
    ("long.spf.test", "spf.too-long", "warning"),
    ("ptr.spf.test", "spf.ptr", "warning"),
    ("incnone.spf.test", "spf.include-no-spf", "error"),
    ("redirall.spf.test", "spf.redirect-with-all", "warning"),
    ("after.spf.test", "spf.after-all", "warning"),
    ("exp.spf.test", "spf.exp", "info"),
    ("nospf.spf.test", "spf.none", "error"),
    ("nx.spf.test", "spf.none", "error"),
    ("split.spf.test", "spf.split-strings", "warning"),
    ("badmacro.spf.test", "spf.syntax", "error"),
])
def test_spf_lint(audit, domain, fid, severity):
    assert fid in audit(domain).ids(severity)


def test_spf_syntax_error_quotes_the_term(audit):
    msgs = [f["message"] for f in audit("syntax.spf.test").get("spf.syntax")]
    assert any("ip4:192.0.2.300" in m for m in msgs) and any("inlcude:_spf.good.test" in m for m in msgs)
    glued = audit("glued.spf.test").get("spf.syntax")[0]["message"]
    assert "ip4:192.0.2.30~all" in glued and "glued" in glued


def test_spf_macro_counted_not_resolved(audit):
    r = audit("macro.spf.test", "--ip", "192.0.2.30")
    assert r.data["spf"]["lookups"] == 1 and r.data["spf"]["result"] == "pass"


def test_spf_include_servfail_is_temperror_not_missing(audit):
    r = audit("tempinc.spf.test", "--ip", "192.0.2.30")
    assert "spf.temperror" in r.ids("error") and "spf.include-no-spf" not in r.ids()
    assert r.data["spf"]["result"] == "temperror"


def test_spf_results(audit):
    assert audit("good.test", "--ip", "192.0.2.99").data["spf"]["result"] == "fail"
    r = audit("good.test", "--ip", "2001:db8::1", "--sender", "bob@good.test")
    assert r.data["spf"]["result"] == "fail"
    assert audit("qall.spf.test", "--ip", "192.0.2.99").data["spf"]["result"] == "neutral"
    assert audit("nospf.spf.test", "--ip", "192.0.2.99").data["spf"]["result"] == "none"
    r = audit("good.test", "--ip", "192.0.2.25", "--sender", "x@spf.test")
    assert r.data["spf"]["evaluations"][0]["sender"] == "x@spf.test" and r.data["spf"]["result"] == "fail"


def test_spf_helo_identity(audit):
    r = audit("good.test", "--ip", "192.0.2.25", "--helo", "h1.spf.test")
    helo = r.data["spf"]["evaluations"][1]
    assert helo["identity"] == "helo" and helo["sender"] == "postmaster@h1.spf.test"
    assert helo["result"] == "none"  # h1 has no SPF record of its own: a warning, not an error
    assert r.get("spf.helo-result")[0]["severity"] == "warning"
    r = audit("good.test", "--ip", "192.0.2.25", "--helo", "spf.test")
    assert r.data["spf"]["evaluations"][1]["result"] == "fail"


# --- DKIM ----------------------------------------------------------------------------------------

def dkim_of(audit, *selectors: str) -> tuple[Result, dict[str, dict[str, Any]]]:
    args = [a for s in selectors for a in ("--dkim-selector", s)]
    r = audit("dkim.test", *args)
    return r, {k["selector"]: k for k in r.data["dkim"]}


@pytest.mark.parametrize("selector,key_type,bits,status,fid,severity", [
    ("rsa512", "rsa", 512, "invalid", "dkim.weak-key", "error"),
    ("rsa1024", "rsa", 1024, "ok", "dkim.short-key", "warning"),
    ("rsa2048", "rsa", 2048, "ok", "dkim.key", "ok"),
    ("ed", "ed25519", 256, "ok", "dkim.key", "ok"),
    ("revoked", "rsa", None, "revoked", "dkim.revoked", "warning"),
    ("testing", "rsa", 2048, "testing", "dkim.testing", "warning"),
    ("badb64", "rsa", None, "invalid", "dkim.bad-base64", "error"),
    ("baddder", "rsa", None, "invalid", "dkim.bad-key", "error"),
    ("duptag", "rsa", 2048, "invalid", "dkim.duplicate-tag", "error"),
    ("sha1", "rsa", 2048, "invalid", "dkim.sha1", "error"),
    ("service", "rsa", 2048, "invalid", "dkim.service", "error"),
    ("ktype", "dsa", None, "invalid", "dkim.unknown-key-type", "error"),
    ("version", "rsa", 2048, "invalid", "dkim.bad-version", "error"),
    ("several", "rsa", 2048, "multiple", "dkim.multiple", "error"),
    ("nosuch", None, None, "missing", "dkim.missing", "error"),
])
def test_dkim_key_records(audit, selector, key_type, bits, status, fid, severity):
    r, keys = dkim_of(audit, selector)
    k = keys[selector]
    assert (k["key_type"], k["key_bits"], k["status"]) == (key_type, bits, status)
    assert fid in r.ids(severity)
    assert ("record" in k) and (k["record"] is None) == (status == "missing")


def test_dkim_pkcs1_key_accepted_with_note(audit):
    _r, keys = dkim_of(audit, "pkcs1")
    assert keys["pkcs1"]["key_bits"] == 2048


def test_dkim_cname_to_vendor_selector(audit):
    r = audit("good.test", "--dkim-selector", "sel2048")
    assert r.data["dkim"][0]["key_bits"] == 2048


def test_dkim_selectors_concurrent_and_servfail_is_temperror(audit):
    r = audit("servfail.test", "--dkim-selector", "a", "--dkim-selector", "b")
    assert [k["status"] for k in r.data["dkim"]] == ["temperror", "temperror"]
    assert "dkim.missing" not in r.ids()


def _signed(tmp_path: Path, domain: str, selector: str, key: str, algo: bytes = b"rsa-sha256",
            body: bytes = b"Hello.\r\n") -> Path:
    import dkim

    msg = (f"From: Alice <alice@{domain}>\r\nTo: bob@example.test\r\nSubject: test\r\n"
           f"Message-ID: <1@{domain}>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\n").encode() + body
    priv = (ZONES / "keys" / key).read_bytes()
    sig = dkim.sign(msg, selector.encode(), domain.encode(), priv, signature_algorithm=algo)
    path = tmp_path / "m.eml"
    path.write_bytes(sig + msg)
    return path


def test_message_dkim_verifies_through_our_resolver(audit, tmp_path):
    eml = _signed(tmp_path, "good.test", "sel2048", "rsa2048.pem")
    r = audit("good.test", "--message", str(eml), "--dkim-selector", "sel2048", "--sender", "a@good.test")
    assert "dkim.signature" in r.ids("ok") and "dmarc.dkim-aligned" in r.ids("ok")
    assert r.data["host"]["dkim_signatures"][0]["result"] == "pass"


def test_message_tampered_and_sha1(audit, tmp_path):
    eml = _signed(tmp_path, "good.test", "sel2048", "rsa2048.pem", algo=b"rsa-sha1")
    eml.write_bytes(eml.read_bytes().replace(b"Hello.", b"Hallo."))
    r = audit("good.test", "--message", str(eml), "--dkim-selector", "sel2048")
    assert {"dkim.signature-fail", "dkim.signature-sha1"} <= r.ids("error")


def test_message_key_servfail_is_temperror(audit, tmp_path):
    eml = _signed(tmp_path, "servfail.test", "s", "rsa2048.pem")
    r = audit("good.test", "--message", str(eml), "--dkim-selector", "sel2048")
    assert "dkim.signature-temperror" in r.ids("error")


def test_message_unaligned_signature(audit, tmp_path):
    eml = _signed(tmp_path, "dkim.test", "rsa2048", "rsa2048.pem")
    r = audit("good.test", "--message", str(eml), "--dkim-selector", "sel2048", "--sender", "x@dmarc.test")
    assert {"dmarc.dkim-unaligned", "dmarc.spf-unaligned"} <= r.ids("warning")
    assert "dmarc.unaligned" in r.ids("error")


# --- DMARC ---------------------------------------------------------------------------------------

def test_dmarc_tree_walk_finds_org_record(audit):
    r = audit("a.b.dmarc.test")
    d = r.data["dmarc"]
    assert d["found_at"] == "_dmarc.dmarc.test" and d["policy"] == "reject"  # sp= applies
    assert d["queried"] == ["_dmarc.a.b.dmarc.test", "_dmarc.b.dmarc.test", "_dmarc.dmarc.test"]


def test_dmarc_walk_of_deep_name_is_bounded_to_8(audit):
    r = audit("x.y.a.b.c.d.e.f.g.h.good.test")
    q = r.data["dmarc"]["queried"]
    assert q[0] == "_dmarc.x.y.a.b.c.d.e.f.g.h.good.test" and q[1] == "_dmarc.d.e.f.g.h.good.test"
    assert r.data["dmarc"]["found_at"] == "_dmarc.good.test" and len(q) <= 8


def test_dmarc_nonexistent_subdomain_uses_np(audit):
    r = audit("nosuch.dmarc.test")
    assert r.data["dmarc"]["policy_tag"] == "np" and r.data["dmarc"]["policy"] == "reject"


def test_dmarc_none_anywhere(audit):
    r = audit("hosts.test")
    assert "dmarc.none" in r.ids("error") and r.data["dmarc"]["record"] is None
    assert r.data["dmarc"]["queried"][-1] == "_dmarc.test"


@pytest.mark.parametrize("domain,fid,severity", [
    ("none.dmarc.test", "dmarc.policy-none", "warning"),
    ("dup.dmarc.test", "dmarc.multiple", "error"),
    ("duptag.dmarc.test", "dmarc.duplicate-tag", "error"),
    ("case.dmarc.test", "dmarc.bad-version", "error"),
    ("testing.dmarc.test", "dmarc.testing", "warning"),
    ("nouri.dmarc.test", "dmarc.bad-uri", "error"),
    ("ext.dmarc.test", "dmarc.report-unauthorized", "warning"),
    ("ext.dmarc.test", "dmarc.report-authorized", "ok"),
    ("dkim.test", "dmarc.no-rua", "warning") if False else ("badtags.dmarc.test", "dmarc.no-rua", "warning"),
])
def test_dmarc_lint(audit, domain, fid, severity):
    assert fid in audit(domain).ids(severity)


def test_dmarc_bad_tags(audit):
    r = audit("badtags.dmarc.test")
    msgs = " | ".join(f["message"] for f in r.findings if f["group"] == "dmarc")
    assert "p='rejected'" in msgs and "adkim='x'" in msgs and "fo='2'" in msgs
    assert "foo=" in msgs and {"dmarc.removed-tag", "dmarc.unknown-tag", "dmarc.bad-value"} <= r.ids()
    assert len(r.get("dmarc.removed-tag")) == 3


def test_dmarc_dup_records_fall_through_to_org(audit):
    r = audit("dup.dmarc.test")
    assert r.data["dmarc"]["found_at"] == "_dmarc.dmarc.test"


def test_dmarc_alignment_strict_and_relaxed(audit):
    r = audit("dmarc.test", "--sender", "a@sub.dmarc.test")
    assert "dmarc.spf-aligned" in r.ids() and r.data["dmarc"]["alignment"]["aspf"] == "r"
    r = audit("strict.dmarc.test", "--sender", "a@sub.strict.dmarc.test")
    assert "dmarc.spf-unaligned" in r.ids("warning")
    r = audit("strict.dmarc.test", "--sender", "a@strict.dmarc.test", "--ip", "192.0.2.25")
    assert "dmarc.spf-aligned" in r.ids("ok")


def test_dmarc_servfail_is_temperror_not_none(audit):
    r = audit("servfail.test")
    assert "dmarc.temperror" in r.ids("error") and "dmarc.none" not in r.ids()


# --- the sending host ----------------------------------------------------------------------------

def test_host_ptr_fcrdns(audit):
    assert "host.fcrdns" in audit("good.test", "--ip", "192.0.2.25").ids("ok")
    assert "host.fcrdns-mismatch" in audit("good.test", "--ip", "192.0.2.26").ids("error")
    r = audit("good.test", "--ip", "192.0.2.27")
    assert "host.ptr-none" in r.ids("error") and r.code == 1


def test_host_helo(audit):
    assert "host.helo" in audit("good.test", "--ip", "192.0.2.25", "--helo", "mail.good.test").ids("ok")
    assert "host.helo-mismatch" in audit("good.test", "--ip", "192.0.2.25", "--helo", "other.hosts.test").ids()
    assert "host.helo-no-address" in audit("good.test", "--ip", "192.0.2.25", "--helo", "nx.hosts.test").ids()


def test_host_dnsbl(audit):
    r = audit("good.test", "--ip", "192.0.2.66", "--dnsbl", "bl.test", "--dnsbl", "refusing.bl.test")
    (listed,) = r.get("host.dnsbl-listed")
    assert "bl.test" in listed["message"] and "listed for testing" in listed["message"]
    assert {(b["zone"], b["status"]) for b in r.data["host"]["dnsbl"]} == {("bl.test", "listed"),
                                                                          ("refusing.bl.test", "not listed")}
    r = audit("good.test", "--ip", "192.0.2.25", "--dnsbl", "bl.test", "--dnsbl", "refusing.bl.test",
              "--dnsbl", "servfail.test")
    rows = {b["zone"]: b["status"] for b in r.data["host"]["dnsbl"]}
    assert rows == {"bl.test": "not listed", "refusing.bl.test": "unknown", "servfail.test": "unknown"}
    assert "host.dnsbl-listed" not in r.ids() and r.code == 0


def test_host_mx(audit):
    r = audit("hosts.test")
    assert "host.mx-no-address" in r.ids("warning")
    assert "host.mx-none" in audit("nomx.hosts.test").ids("warning")
    assert "host.null-mx" in audit("nullmx.hosts.test").ids("info")
    assert "host.domain-nxdomain" in audit("nx.hosts.test").ids("error")


def test_host_mta_sts_tls_rpt(audit):
    r = audit("badsts.hosts.test")
    assert {"host.mta-sts-invalid", "host.tls-rpt-invalid"} <= r.ids("error")
    r = audit("twosts.hosts.test")
    assert {"host.mta-sts-multiple", "host.tls-rpt-invalid"} <= r.ids("error")


# --- DNS failures, bad input, exit codes ---------------------------------------------------------

def test_dead_server_times_out_bounded(audit, dead_dns):
    import time

    t = time.monotonic()
    r = audit("good.test", "--ip", "192.0.2.25", "--dkim-selector", "sel2048", resolver=dead_dns.address)
    assert time.monotonic() - t < 10  # concurrent: about one --timeout (2 s) and one probe, not the sum
    # one finding about the resolver, not six telling the user to fix the domain's DNS
    assert [f["id"] for f in r.findings] == ["dns.resolver-timeout"] and r.code == 1
    assert dead_dns.address in r.findings[0]["message"]
    assert all(b["status"] == "unknown" for b in r.data["host"]["dnsbl"])


# --- DNS error classes, each from a real server (docs/audit.md "DNS errors") ---------------------

def test_dns_nxdomain_and_nodata(audit):
    r = audit("nx.hosts.test")
    assert "host.domain-nxdomain" in r.ids("error") and "does not exist" in r.get("spf.none")[0]["message"]
    r = audit("nomx.hosts.test")  # the name exists (an A record), the MX does not
    assert "host.mx-none" in r.ids("warning") and "host.domain-nxdomain" not in r.ids()
    assert "no v=spf1 TXT record" in r.get("spf.none")[0]["message"]


def test_dns_servfail_is_named_servfail(audit):
    r = audit("servfail.test")
    (f,) = r.get("spf.temperror")
    assert "SERVFAIL" in f["message"] and "REFUSED" not in f["message"]


def test_dns_refused_by_the_resolver_is_one_resolver_finding(audit):
    # NSD serves only its zones: a domain outside them is refused, every query of it
    r = audit("example.org")
    assert [f["id"] for f in r.findings] == ["dns.resolver-refused"]
    assert "recursive" in r.findings[0]["fix"]


def test_dns_refused_inside_a_tree_names_the_resolver(audit):
    r = audit("refinc.spf.test")
    (f,) = [f for f in r.get("spf.temperror") if "elsewhere.example" in f["message"]]
    assert "REFUSED" in f["message"] and "--resolver" in f["fix"]


def test_dns_cname_loop(audit):
    r = audit("cloop.hosts.test")
    (f,) = r.get("spf.temperror")
    assert "CNAME loop" in f["message"] and "timed out" not in f["message"]


def test_dns_referral_inside_a_zone(audit):
    r = audit("deleg.hosts.test")
    (f,) = r.get("spf.temperror")
    assert "referral" in f["message"] and "recursive" in f["fix"]


def test_dns_referral_only_resolver_is_one_finding(audit, referral_dns):
    r = audit("good.test", resolver=referral_dns.address)
    assert [f["id"] for f in r.findings] == ["dns.resolver-referral"]


def test_dns_malformed_answers_are_not_a_timeout(audit, garbage_dns):
    r = audit("good.test", resolver=garbage_dns.address)
    assert [f["id"] for f in r.findings] == ["dns.resolver-malformed"]
    assert "malformed" in r.findings[0]["message"] and "timed out" not in r.findings[0]["message"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpprobe", "audit", *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("args", [
    ["bad..domain"], ["good.test", "--ip", "192.0.2"], ["good.test", "--resolver", "127.0.0.1:99999"],
    ["good.test", "--sender", "nobody"], ["good.test", "--dkim-selector", "a b"], ["-", "--timeout", "0"],
    ["good.test", "--message", "/nonexistent.eml"], ["localhost"], ["x" * 64 + ".test"],
])
def test_bad_input_exit_2_one_line(args):
    p = cli(*args)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_exit_codes_and_table_subprocess(dns_server):
    p = cli("good.test", "--ip", "192.0.2.25", "--dkim-selector", "sel2048", "--resolver", dns_server.address,
            "--dnsbl", "bl.test")
    assert p.returncode == 0, p.stdout
    for group in ("SPF", "DKIM", "DMARC", "HOST"):
        assert f"\n{group}\n" in p.stdout
    p = cli("plusall.spf.test", "--resolver", dns_server.address, "--format", "json")
    assert p.returncode == 1 and json.loads(p.stdout)["result"] == "fail"


def test_fast_start_imports_nothing_heavy():
    code = ("import sys; from click.testing import CliRunner; from smtpprobe.cli import main; "
            "CliRunner().invoke(main, ['--help']); "
            "print([m for m in ('dns', 'spf', 'dkim', 'cryptography', 'tabulate') if m in sys.modules])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


# --- DMARC: version placement, policy source, Public Suffix List ----------------------------------

def test_dmarc_version_not_first_is_bad_version_not_missing(audit):
    r = audit("vlast.dmarc.test")
    assert "dmarc.bad-version" in r.ids("error") and "dmarc.none" not in r.ids()


def test_dmarc_inherited_policy_names_its_source(audit):
    r = audit("x.inherit.dmarc.test")
    assert r.data["dmarc"]["policy"] == "quarantine" and r.data["dmarc"]["policy_tag"] == "p"
    (rec,) = r.get("dmarc.record")
    assert "(p, inherited: no sp=)" in rec["message"]
    assert audit("a.b.dmarc.test").data["dmarc"]["policy_tag"] == "sp"  # dmarc.test has sp=


def test_relaxed_alignment_uses_the_public_suffix_list(audit):
    # co.uk is a public suffix: example.co.uk and other.co.uk are different organizations, although a
    # "last two labels" guess makes both co.uk
    r = audit("example.co.uk", "--sender", "x@other.co.uk", "--ip", "192.0.2.25")
    assert "dmarc.spf-unaligned" in r.ids("warning") and r.data["dmarc"]["alignment"]["spf_aligned"] is False
    r = audit("example.co.uk", "--sender", "x@mail.example.co.uk")
    assert r.data["dmarc"]["alignment"]["spf_aligned"] is True


# --- identities as sent: accepted and judged, not refused (RFC 5321 §4.1.1.1, RFC 7208 §2.3, §2.4, §4.3) ---

def test_single_label_helo_and_empty_local_part_are_judged(audit):
    r = audit("good.test", "--ip", "192.0.2.25", "--helo", "OEMCOMPUTER", "--sender", "@good.test")
    assert r.code in (0, 1) and "host.helo-not-fqdn" in r.ids("warning")
    assert "spf.sender-no-localpart" in r.ids("info")
    mfrom, helo = r.data["spf"]["evaluations"]
    assert mfrom["result"] == "pass"  # §4.3: postmaster@good.test
    # §4.3: a single label gives none at once (pyspf would ask the DNS, and this resolver refuses `oemcomputer`)
    assert helo["result"] == "none" and "single label" in helo["explanation"]


def test_address_literal_helo_and_null_sender(audit):
    r = audit("good.test", "--ip", "192.0.2.25", "--helo", "[192.0.2.99]", "--sender", "")
    (lit,) = r.get("host.helo-literal")
    assert "not --ip 192.0.2.25" in lit["message"]
    assert "spf.sender-null" in r.ids("info")
    assert {e["result"] for e in r.data["spf"]["evaluations"]} == {"none"}  # §2.3: literals are not checked


def test_garbage_helo_and_bad_sender_domain(audit):
    r = audit("good.test", "--ip", "192.0.2.25", "--helo", "JUMPIN' JUPITER", "--sender", "a b@x..y")
    assert "host.helo-invalid" in r.ids("warning")
    assert {"spf.sender-odd-localpart"} <= r.ids("warning") and "spf.sender-bad-domain" in r.ids("error")
    assert r.data["spf"]["evaluations"][0]["result"] == "none"


def test_dmarc_org_domain_from_the_psl(audit):
    r = audit("mail.example.co.uk")
    assert r.data["dmarc"]["org_domain"] == "example.co.uk"
    assert r.data["dmarc"]["found_at"] == "_dmarc.example.co.uk"


def test_looping_tree_does_not_say_lookups_ok(audit):
    r = audit("loop1.spf.test", "--ip", "192.0.2.99")
    assert r.data["spf"]["result"] == "permerror"  # pyspf follows the loop to the limit
    assert "spf.lookups" not in r.ids("ok") and "spf.lookups" in r.ids("info")
