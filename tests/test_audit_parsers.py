"""Unit and property tests for the pure parsers: no I/O, and no input crashes them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpprobe.audit.dkim import parse_key_record
from smtpprobe.audit.dmarc import is_dmarc, parse_dmarc, parse_uris
from smtpprobe.audit.dmarccheck import walk_names
from smtpprobe.audit.findings import BadInput
from smtpprobe.audit.resolver import parse_resolver
from smtpprobe.audit.run import Options, check_domain, validate
from smtpprobe.audit.spf import domain_error, is_spf, parse_spf, target_error
from smtpprobe.audit.tags import parse_tags

# --- SPF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("v=spf1", True), ("v=spf1 -all", True), ("V=SPF1 -all", True), ("v=spf10 -all", False),
    (" v=spf1 -all", False), ("v=spf1-all", False), ("spf2.0/pra -all", False), ("", False),
])
def test_is_spf(text, expected):
    assert is_spf(text) is expected


def test_spf_lookup_terms_and_all():
    r = parse_spf("v=spf1 a mx:mx.example.com/24 include:_spf.example.com ip4:192.0.2.0/24 ptr exists:%{i}.x.example"
                  " ~all")
    assert not r.errors
    assert [t.name for t in r.lookup_terms] == ["a", "mx", "include", "ptr", "exists"]
    assert r.all and r.all.qualifier == "~" and r.includes == ["_spf.example.com"]


def test_spf_redirect_counts_only_without_all():
    assert [t.name for t in parse_spf("v=spf1 redirect=_spf.example.com").lookup_terms] == ["redirect"]
    r = parse_spf("v=spf1 -all redirect=_spf.example.com")
    assert r.lookup_terms == [] and any("redirect" in w for w in r.warnings)


@pytest.mark.parametrize("record,needle", [
    ("v=spf1 inlcude:example.com -all", "unknown mechanism 'inlcude:example.com'"),
    ("v=spf1 ip4:192.0.2.1/33 -all", "ip4:192.0.2.1/33"),
    ("v=spf1 ip6:2001:db8::/129 -all", "ip6:2001:db8::/129"),
    ("v=spf1 ip4:2001:db8::1 -all", "ip4:2001:db8::1"),
    ("v=spf1 ip4:192.0.2.1-all", "glued"),
    ("v=spf1 include: -all", "empty domain"),
    ("v=spf1 include -all", "include needs a domain"),
    ("v=spf1 exists:%{x}.example.com -all", "malformed macro"),
    ("v=spf1 a:foo -all", "not a valid domain name"),
    ("v=spf1 redirect=a.example redirect=b.example", "more than one redirect"),
    ("v=spf1 -all exp=a.example exp=b.example", "more than one exp"),
    ("v=spf1 all:foo", "takes no value"),
    ("v=spf1 a/40 -all", "prefix length"),
    ("v=spf1 \x08 -all", "unknown mechanism"),
])
def test_spf_syntax_errors_quote_the_term(record, needle):
    errors = " | ".join(parse_spf(record).errors)
    assert needle in errors, errors


def test_spf_unknown_modifier_ignored_and_after_all():
    r = parse_spf("v=spf1 -all foo=bar ip4:192.0.2.1")
    assert not r.errors and r.unknown_modifiers == ["foo=bar"] and r.after_all == ["ip4:192.0.2.1"]


def test_domain_error():
    assert domain_error("example.com") is None and domain_error("%{d}") is None
    assert domain_error("%{z}") and domain_error("111.222.33.44") and domain_error("example.-com")
    # the grammar allows these (RFC 7208 §7.1: macro-literals then "." toplabel); a lookup of them is void,
    # and only as an include/redirect target do they make a permerror
    assert domain_error("a..b") is None and domain_error("x" * 64 + ".com") is None
    assert target_error("a..b") and target_error("x" * 64 + ".com") and target_error("%%")


# --- tags, DKIM ----------------------------------------------------------------------------------

def test_parse_tags():
    t = parse_tags(" v = DKIM1 ; k=rsa;p=AB CD; ")
    assert t.tags == {"v": "DKIM1", "k": "rsa", "p": "AB CD"} and not t.errors and not t.duplicates
    t = parse_tags("a=1; a=2; 1x=3; novalue; ;; b=")
    assert t.duplicates == ["a"] and len(t.errors) == 4 and t.tags == {"a": "1", "b": ""}


def test_dkim_key_parse():
    k = parse_key_record("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert (k.key_type, k.key_bits, k.status, k.problems) == ("ed25519", 256, "ok", [])
    assert parse_key_record("v=DKIM1; p=").status == "revoked"
    assert {p.id for p in parse_key_record("k=ed25519; p=AAAA").problems} == {"dkim.bad-key"}
    assert {p.id for p in parse_key_record("k=rsa").problems} == {"dkim.no-key"}
    assert "dkim.bad-version" in {p.id for p in parse_key_record("p=; v=DKIM1").problems}


# --- DMARC ---------------------------------------------------------------------------------------

def test_dmarc_parse_ok():
    r = parse_dmarc("v=DMARC1; p=reject; sp=quarantine; np=none; adkim=s; fo=0:1:d; rua=mailto:a@b.example")
    assert r.valid and r.policy() == "reject" and r.policy("sp") == "quarantine" and r.policy("np") == "none"
    assert [u.domain for u in r.rua] == ["b.example"]


def test_dmarc_policy_inheritance():
    r = parse_dmarc("v=DMARC1; p=quarantine; rua=mailto:a@b.example")
    assert r.policy("sp") == r.policy("np") == "quarantine"
    assert parse_dmarc("v=DMARC1; p=bogus").policy() == "none"


def test_dmarc_is_dmarc_case_sensitive():
    assert is_dmarc("v=DMARC1; p=none") and is_dmarc("v=DMARC1")
    assert not is_dmarc("v=dmarc1; p=none") and not is_dmarc(" v=DMARC1") and not is_dmarc("v=DMARC10")


def test_dmarc_uris():
    uris = parse_uris("mailto:a@b.example!10m, https://x.example, mailto:nobody")
    assert [(u.domain, bool(u.error)) for u in uris] == [("b.example", False), (None, True), (None, True)]


def test_walk_names():
    assert walk_names("a.b.example.com") == ["a.b.example.com", "b.example.com", "example.com", "com"]
    deep = walk_names(".".join("abcdefghij") + ".example.com")
    assert len(deep) == 8 and deep[1] == "f.g.h.i.j.example.com"  # the last 7 labels


# --- input validation ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)), ("::1", ("::1", 53)),
    ("[::1]:5353", ("::1", 5353)), ("[2001:db8::1]", ("2001:db8::1", 53)),
])
def test_parse_resolver(text, expected):
    assert parse_resolver(text) == expected


@pytest.mark.parametrize("text", ["", "localhost", "1.2.3.4:0", "1.2.3.4:x", "[::1]x", "1.2.3", "::1]:5"])
def test_parse_resolver_bad(text):
    with pytest.raises(BadInput):
        parse_resolver(text)


def test_validate_normalizes():
    o = validate(Options("Example.COM.", ip=" 2001:DB8::1 ", sender="<Bob@Example.com>", helo="MX.example.com"))
    # the identities stay as the client sends them: SPF checks exactly these strings (RFC 7208 §2.3, §2.4)
    assert (o.domain, o.ip, o.sender, o.helo) == ("example.com", "2001:db8::1", "Bob@Example.com", "MX.example.com")
    assert check_domain("bücher.example", "x") == "xn--bcher-kva.example"


# --- properties: nothing crashes -----------------------------------------------------------------

texts = st.one_of(st.text(max_size=300), st.text(alphabet="v=spf1 DKIM;:%{}/.-+~?aipxmnclude46", max_size=200))


@settings(max_examples=300, deadline=None)
@given(texts)
def test_spf_parser_never_raises(text):
    r = parse_spf(text)
    assert isinstance(r.errors, list) and len(r.lookup_terms) <= len(r.terms) + 1
    parse_spf("v=spf1 " + text)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_tag_parsers_never_raise(text):
    parse_tags(text)
    parse_dmarc(text)
    parse_dmarc("v=DMARC1; " + text)
    parse_key_record(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_dkim_key_bytes_never_raise(data):
    import base64

    parse_key_record("v=DKIM1; p=" + base64.b64encode(data).decode())
    parse_key_record("v=DKIM1; k=ed25519; p=" + base64.b64encode(data).decode())
    parse_key_record(data.decode("utf-8", "replace"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_input_validation_raises_only_bad_input(text):
    for fn in (lambda: check_domain(text, "x"), lambda: parse_resolver(text), lambda: walk_names(text or "x"),
               lambda: validate(Options("example.com", ip=text, sender=text or "x"))):
        try:
            fn()
        except BadInput:
            pass


def test_every_finding_id_is_documented():
    """docs/audit.md explains each finding id the code can emit."""
    import re
    from pathlib import Path

    root = Path(__file__).parent.parent
    code = "".join(p.read_text() for p in (root / "smtpprobe" / "audit").glob("*.py"))
    ids = set(re.findall(r'"((?:spf|dkim|dmarc|host)\.[a-z0-9-]+)"', code))
    ids |= {f"spf.{k}" for k in ("include-loop", "redirect-loop", "include-no-spf", "redirect-no-spf")}
    ids |= {f"host.{k}{s}" for k in ("mta-sts", "tls-rpt") for s in ("", "-none", "-invalid", "-multiple")}
    ids |= {f"dns.resolver-{k}" for k in ("timeout", "refused", "referral", "malformed")}
    docs = (root / "docs" / "audit.md").read_text()
    assert sorted(i for i in ids if f"`{i}`" not in docs) == []
