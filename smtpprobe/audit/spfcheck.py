"""SPF audit: fetch the record and its whole include/redirect tree (each level concurrently), count
lookups and void lookups per term, and lint. Evaluation with pyspf is in spfeval."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from smtpprobe.audit import findings as F
from smtpprobe.audit.resolver import Lookup, Resolver, Status, fix_hint
from smtpprobe.audit.spf import SpfRecord, is_spf, parse_spf

R = "RFC 7208"
MAX_NODES = 60  # bounds the walk on hostile trees; a legal tree reaches at most 11 records
MAX_RESOLVED_TERMS = 15  # per record: enough to see past the limit of 10, bounded on huge records


@dataclass
class Node:
    domain: str
    via: str  # "domain", "include" or "redirect"
    status: str = ""  # "ok", "none", "multiple", "loop", a DNS failure, or "truncated"
    record: str | None = None
    parsed: SpfRecord | None = None
    lookups: int = 0  # lookup terms in this record
    void: int = 0  # void answers to this record's a/mx/ptr/exists terms
    children: list[Node] = field(default_factory=list)

    def total(self) -> int:
        return self.lookups + sum(c.total() for c in self.children)

    def total_void(self) -> int:
        return self.void + sum(c.total_void() for c in self.children)

    def walk(self) -> list[Node]:
        return [self] + [n for c in self.children for n in c.walk()]

    def tree_text(self, depth: int = 0) -> list[str]:
        label = f"{'  ' * depth}{self.via} {self.domain}: "
        label += f"{self.lookups} lookup(s)" if self.status == "ok" else self.status
        return [label] + [line for c in self.children for line in c.tree_text(depth + 1)]

    def to_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "via": self.via, "status": self.status, "record": self.record,
                "lookups": self.lookups, "void_lookups": self.void,
                "children": [c.to_json() for c in self.children]}


def select_spf(lookup: Lookup) -> list[str]:
    out = []
    for raw in lookup.txt():
        text = raw.decode("utf-8", "replace")
        if is_spf(text):
            out.append(text)
    return out


class SpfWalker:
    def __init__(self, resolver: Resolver, v6: bool = False) -> None:
        self.resolver = resolver
        self.addr_type = "AAAA" if v6 else "A"
        self.nodes = 0
        self.failures: list[Lookup] = []

    async def node(self, domain: str, via: str, ancestors: tuple[str, ...]) -> Node:
        node = Node(domain, via)
        self.nodes += 1
        if domain.lower() in ancestors:
            node.status = "loop"
            return node
        if self.nodes > MAX_NODES:
            node.status = "truncated"
            return node
        lookup = await self.resolver.lookup(domain, "TXT")
        if lookup.failed or lookup.status == Status.BADNAME:
            node.status = lookup.status.value
            self.failures.append(lookup)
            return node
        records = select_spf(lookup)
        if not records:
            node.status = "none"
            return node
        if len(records) > 1:
            node.status = "multiple"
            node.record = " | ".join(records)
            return node
        node.status, node.record = "ok", records[0]
        node.parsed = parse_spf(records[0])
        terms = node.parsed.lookup_terms
        node.lookups = len(terms)
        path = ancestors + (domain.lower(),)
        jobs = []
        for t in terms[:MAX_RESOLVED_TERMS]:
            if t.has_macro or not t.value and t.name in ("include", "exists"):
                continue  # macros expand per message: counted, not resolved
            if t.name in ("include", "redirect"):
                jobs.append(self.node(t.value, t.name, path))
            else:
                jobs.append(self._void(t.name, t.value or domain))
        results = await asyncio.gather(*jobs)
        node.children = [r for r in results if isinstance(r, Node)]
        node.void = sum(1 for r in results if r is True)
        return node

    async def _void(self, mech: str, name: str) -> bool:
        """True when the term's own query comes back empty (NXDOMAIN or NODATA): a void lookup."""
        rdtype = {"mx": "MX", "ptr": "PTR", "exists": "A"}.get(mech, self.addr_type)
        if mech == "ptr":
            return False  # depends on the client IP; see spf.ptr
        lookup = await self.resolver.lookup(name, rdtype)
        if lookup.failed:
            self.failures.append(lookup)
        if mech == "mx" and lookup.status == Status.OK:
            # resolve the MX hosts too (not counted toward the 10, §4.6.4), so pyspf finds them cached
            await asyncio.gather(*(self.resolver.lookup(h, self.addr_type) for _, h in lookup.records[:10]))
        return lookup.void


def raw_strings(lookup: Lookup) -> list[tuple[bytes, ...]]:
    return [s for s in lookup.records if is_spf(b"".join(s).decode("utf-8", "replace"))]


async def audit_spf(resolver: Resolver, domain: str, v6: bool = False) -> tuple[Node, list[F.Finding]]:
    walker = SpfWalker(resolver, v6)
    root = await walker.node(domain, "domain", ())
    return root, lint(root, await resolver.lookup(domain, "TXT"), walker.failures)


def lint(root: Node, lookup: Lookup, failures: list[Lookup]) -> list[F.Finding]:
    out: list[F.Finding] = []
    d = root.domain
    if lookup.failed:
        return [F.error("spf.temperror", f"SPF lookup for {d} failed: {lookup.describe()}", fix_hint(lookup),
                        f"{R} §4.4")]
    if root.status == "badname":
        return [F.error("spf.temperror", f"{d} is not a valid DNS name", "", f"{R} §4.3")]
    if root.status == "none":
        why = "the domain does not exist" if lookup.status == Status.NXDOMAIN else "no v=spf1 TXT record"
        return [F.error("spf.none", f"No SPF record for {d} ({why})",
                        f'Publish a TXT record at {d}: "v=spf1 <your senders> -all".', f"{R} §4.5")]
    if root.status == "multiple":
        return [F.error("spf.multiple", f"{d} has more than one v=spf1 record (permerror)",
                        "Merge them into a single TXT record.", f"{R} §3.2, §4.5", records=root.record)]
    for node in root.walk():
        out += _lint_node(node, node is root)
    total, void = root.total(), root.total_void()
    tree = root.tree_text()
    if total > 10:
        out.append(F.error("spf.lookup-limit", f"{total} DNS-querying terms across the SPF tree (limit 10)",
                           "Flatten includes, drop unused ones, replace a/mx with ip4/ip6.", f"{R} §4.6.4",
                           lookups=total, tree=tree))
    elif any(n.status == "loop" for n in root.walk()):
        # a loop is followed by receivers until the limit: "N lookups, fine" would contradict their permerror
        out.append(F.info("spf.lookups", f"{total} DNS-querying terms before the loop; receivers follow it "
                          "until the limit of 10 (permerror)", f"{R} §4.6.4", lookups=total, tree=tree))
    else:
        out.append(F.ok("spf.lookups", f"{total} DNS-querying terms across the SPF tree (limit 10)",
                        f"{R} §4.6.4", lookups=total, tree=tree))
    if void > 2:
        out.append(F.error("spf.void-limit", f"{void} void lookups (limit 2)",
                           "Remove terms that point at names with no records.", f"{R} §4.6.4", void_lookups=void))
    seen_failures = {(f.name, f.rdtype): f for f in failures if f is not lookup}
    for (name, rdtype), failure in sorted(seen_failures.items()):
        if name != d.lower().rstrip("."):
            out.append(F.error("spf.temperror", f"lookup of {name} {rdtype} in the SPF tree failed: "
                               f"{failure.describe()}", fix_hint(failure), f"{R} §4.4"))
    split = [s for s in raw_strings(lookup) if len(s) > 1]
    for strings in split:
        joins = [i for i in range(len(strings) - 1)
                 if not strings[i].endswith(b" ") and not strings[i + 1].startswith(b" ")]
        if joins:
            out.append(F.warning("spf.split-strings", "the record's strings are joined with no space between "
                                 f"{strings[joins[0]][-12:]!r} and {strings[joins[0] + 1][:12]!r}",
                                 "End each string with a space (strings are concatenated as-is).", f"{R} §3.3"))
    if root.parsed and not any(f.severity == F.Severity.ERROR for f in out):
        out.insert(0, F.ok("spf.record", f"SPF record found at {d}", R, record=root.record))
    return out


def _lint_node(node: Node, is_root: bool) -> list[F.Finding]:
    out: list[F.Finding] = []
    where = "" if is_root else f" (in {node.via} {node.domain})"
    if node.status == "loop":
        out.append(F.error(f"spf.{node.via}-loop" if node.via != "domain" else "spf.include-loop",
                           f"{node.via} loop back to {node.domain}", "Remove the circular include/redirect.",
                           f"{R} §4.6.4, §5.2"))
    elif node.status in ("none", "multiple") and not is_root:
        kind = "include-no-spf" if node.via == "include" else "redirect-no-spf"
        what = "no SPF record" if node.status == "none" else "several SPF records"
        out.append(F.error(f"spf.{kind}", f"{node.via} target {node.domain} has {what} (permerror)",
                           f"Fix or remove the {node.via} of {node.domain}.", f"{R} §5.2, §6.1"))
    elif node.status == "truncated":
        out.append(F.error("spf.lookup-limit", "SPF tree too large; walk stopped", "", f"{R} §4.6.4"))
    rec = node.parsed
    if rec is None:
        return out
    for problem in rec.errors:
        out.append(F.error("spf.syntax", f"syntax error{where}: {F.printable(problem)}",
                           "Fix the term; any syntax error makes the whole record a permerror.", f"{R} §4.6.1"))
    for w in rec.warnings:
        if w.startswith("pyspf answers permerror"):
            out.append(F.warning("spf.pyspf-permerror", F.printable(w) + where,
                                 "Valid, but receivers running pyspf reject it: write it another way.", f"{R} §6, §7.1"))
            continue
        fid = "spf.redirect-with-all" if w.startswith("redirect") else "spf.after-all"
        out.append(F.warning(fid, F.printable(w) + where, "Remove the ignored terms.", f"{R} §5.1, §6.1"))
    if any(t.name == "ptr" for t in rec.terms):
        out.append(F.warning("spf.ptr", f"`ptr` mechanism used{where}", "Replace ptr with ip4/ip6 or a.",
                             f"{R} §5.5"))
    size = len(node.record.encode()) if node.record else 0
    if size > 450:
        out.append(F.warning("spf.too-long", f"record is {size} bytes{where} (keep under 450)",
                             "Shorten it or move parts into an include.", f"{R} §3.4"))
    if rec.exp is not None:
        out.append(F.info("spf.exp", f"exp={rec.exp} explanation used{where}", "", f"{R} §6.2"))
    for m in rec.unknown_modifiers:
        out.append(F.info("spf.unknown-modifier", f"unknown modifier ignored{where}: {F.printable(m)}", "",
                          f"{R} §6"))
    if is_root and not rec.errors:
        q = rec.all.qualifier if rec.all else None
        if q == "+":
            out.append(F.error("spf.all-pass", "`+all` lets any host on the Internet pass SPF",
                               "End the record with -all or ~all.", f"{R} §5.1"))
        elif q == "?":
            out.append(F.warning("spf.all-neutral", "`?all`: unlisted hosts are neutral, not rejected",
                                 "End the record with -all or ~all.", f"{R} §5.1"))
        elif q is None and rec.redirect is None:
            out.append(F.warning("spf.no-all", "no `all` and no redirect: unlisted hosts get neutral",
                                 "End the record with -all or ~all.", f"{R} §4.7"))
    return out
