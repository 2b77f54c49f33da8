"""`smtpprobe tls` output: a plain-text report, or JSON (schema 1). Text from the server is sanitized."""

from __future__ import annotations

from smtpprobe.tls import names_shown, printable
from smtpprobe.tlsscan.findings import Finding
from smtpprobe.tlsscan.scan import ScanResult

SCHEMA = 1


def to_json(result: ScanResult, role: str, findings: list[Finding], extra: dict | None = None) -> dict:
    return {
        "schema": SCHEMA,
        "role": role,
        **result.to_dict(),
        **(extra or {}),
        "findings": [f.to_dict() for f in findings],
    }


def text(result: ScanResult, role: str, findings: list[Finding], extra_lines: list[str] | None = None) -> str:
    how = "STARTTLS" if result.starttls else "implicit TLS"
    lines = [
        f"TLS posture of {result.host}:{result.port} ({how}, {role} port)"
        + (f" for {printable(result.name)}" if result.name else "")
        + f", {result.seconds:.2f}s",
        "",
    ]
    lines.append("Protocol versions")
    for v in result.versions:
        mark = (
            "accepted" if v.accepted else "unknown" if (v.note or "").startswith("not asked") else "refused"
        )
        why = f" ({v.note})" if v.note and not v.accepted else f" {_order(v)}" if v.accepted else ""
        lines.append(f"  {v.version:<8} {mark:<9}{why}".rstrip())
    lines += ["", "Cipher suites (in the order found: the server's preference where it enforces its order)"]
    for v in result.versions:
        for s in v.suites:
            flags = ", ".join(f for f in s["flags"] if f != "CBC" or s["grade"] == "acceptable")
            lines.append(f"  {v.version:<8} {s['name']:<48} {s['grade']:<10} {flags}".rstrip())
    lines += _groups(result)
    lines += _features(result.features)
    cert = result.certificate
    if cert:
        lines += ["", "Certificate"] + _certificate(cert)
    if extra_lines:
        lines += [""] + extra_lines
    lines += ["", "Findings"]
    lines += [
        f"  {f.severity.upper():<4}  {f.topic:<11} {printable(f.text, 1000)}"
        + (f" [{f.reference}]" if f.reference else "")
        for f in findings
    ] or ["  none"]
    for error in result.errors:
        lines.append(f"  note: {printable(error)}")
    return "\n".join(lines)


def _groups(result: ScanResult) -> list[str]:
    """The groups each enumerated version accepts (kex.py), with why a list may be short, and DHE."""
    dh = f"smallest DH prime {result.dh_bits} bits" if result.dh_bits else ""
    if not result.groups_by_version:
        shown = ", ".join(printable(g) for g in result.groups) or "(none seen)"
        return ["", f"Key exchange groups: {shown}" + (f"; {dh}" if dh else "")]
    lines = ["", "Key exchange groups (in the order found)"]
    for version, found in result.groups_by_version.items():
        lines.append(f"  {version:<8} {', '.join(printable(g) for g in found['groups']) or '(none)'}")
        dhe = found.get("dhe")
        if dhe:
            how = (
                "RFC 7919 groups negotiated"
                if dhe["negotiated"]
                else f"always {printable(dhe['prime'])}, whatever the client offers"
                if dhe["prime"]
                else "the server's own prime, whatever the client offers (no RFC 7919 negotiation)"
            )
            lines.append(f"           DHE: {how}" + (f"; {dh}" if dh else ""))
        if found["note"]:
            lines.append(f"           ({printable(found['note'], 300)})")
    if dh and not any(f.get("dhe") for f in result.groups_by_version.values()):
        lines.append(f"  DHE      {dh}")
    return lines


def _order(v) -> str:
    """Whose cipher order the server follows on an accepted version, as the two order questions found."""
    if v.order in ("server", "client"):
        return f"{v.order} order"
    if v.order == "not applicable":
        return {"TLSv1.3": "order n/a (TLS 1.3)", "SSLv2": "order n/a (SSLv2)"}.get(
            v.version, "order n/a (one suite)"
        )
    error = (v.order_evidence or {}).get("error")
    return f"order unknown ({printable(error, 80)})" if error else "order unknown"


def _features(f: dict) -> list[str]:
    if not f:
        return ["", "Renegotiation, compression, heartbeat: not asked (no version below TLS 1.3 accepted)"]
    head = ["", f"Renegotiation, compression, heartbeat (one {f['asked_with']} ClientHello)"]
    if "error" in f:
        return head + [f"  unknown: {printable(f['error'])}"]
    return head + [
        "  secure renegotiation  "
        + ("yes (renegotiation_info in the ServerHello)" if f["secure_renegotiation"] else "NO"),
        f"  compression           {printable(f['compression'])} (DEFLATE and null offered)",
        f"  heartbeat             {'enabled (echoed)' if f['heartbeat'] else 'not enabled'}",
    ]


def _certificate(cert: dict) -> list[str]:
    if "subject" not in cert:
        return [f"  {printable(p)}" for p in cert.get("problems", [])]
    verified = (
        "verified"
        if cert.get("chain_verified")
        else f"NOT verified: {printable(cert.get('verify_error') or '')}"
    )
    return [
        f"  subject    {printable(cert['subject'])}",
        f"  issuer     {printable(cert['issuer'])}",
        f"  names      {names_shown(cert['sans'])}",
        f"  key        {cert['key_type']}" + (f", {cert['key_bits']} bits" if cert.get("key_bits") else ""),
        f"  signature  {cert['signature']}",
        f"  expires    {cert['not_after']} ({cert['days_left']} day{'s' if cert['days_left'] != 1 else ''})",
        f"  chain      {cert['chain_length']} certificate{'s' if cert['chain_length'] != 1 else ''} sent, {verified}",
        f"  name match {'yes' if cert.get('name_matches') else 'no'}",
    ]
