"""MAIL FROM and RCPT TO parameters chosen from the message and the EHLO reply, so that what goes on the wire is
correct without the user thinking about it. Pure: returns the parameters and notes on what was left out.

- BODY=8BITMIME when the message has 8-bit bytes and the server offers 8BITMIME (RFC 6152 §3).
- SMTPUTF8 when an address or a header is UTF-8 and the server offers SMTPUTF8 (RFC 6531 §3.4).
- SIZE=n when the server offers SIZE (RFC 1870 §6), n the size of the message as sent.
- DSN NOTIFY/ORCPT (RCPT) and RET/ENVID (MAIL) when asked and offered (RFC 3461 §4); never when not offered.
- REQUIRETLS when asked (RFC 8689 §4.1): only over TLS to a server that offers it, else the transaction stops.
- PRDR when asked and offered (draft-hall-prdr-00 §4.1, §4.2); else a note, and one reply for the message.
"""

from __future__ import annotations

from smtpprobe.protocol import xtext


class Wanted:
    """What the user asked for, beyond what is automatic (a plain class: dataclasses cost ~6 ms to import)."""

    def __init__(
        self,
        body_type: str | None = None,
        dsn_notify: str | None = None,
        dsn_ret: str | None = None,
        dsn_envid: str | None = None,
        dsn_orcpt: bool = False,
        requiretls: bool = False,
        auto: bool = True,
        prdr: bool = False,
        mail_extra: list[str] | None = None,
        rcpt_extra: list[str] | None = None,
    ):
        self.body_type = body_type  # 7BIT, 8BITMIME, BINARYMIME; None: automatic
        self.dsn_notify, self.dsn_ret, self.dsn_envid, self.dsn_orcpt = (
            dsn_notify,
            dsn_ret,
            dsn_envid,
            dsn_orcpt,
        )
        self.requiretls, self.prdr = requiretls, prdr
        self.auto = auto  # BODY, SMTPUTF8 and SIZE on our own
        self.mail_extra, self.rcpt_extra = mail_extra or [], rcpt_extra or []


class Refusal(Exception):
    """The transaction must not go on as asked (REQUIRETLS without TLS or the extension)."""


def needs_utf8(sender: str, recipients: list[str], message: bytes | None) -> bool:
    if not (sender.isascii() and all(r.isascii() for r in recipients)):
        return True
    headers = (message or b"").split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return not headers.isascii()


def mail_parameters(
    wanted: Wanted,
    extensions: dict[str, str],
    sender: str,
    recipients: list[str],
    message: bytes | None,
    tls: bool,
    size: int | None = None,
    eight_bit: bool | None = None,
) -> tuple[list[str], list[str]]:
    """(parameters for MAIL FROM, notes for the transcript). For a message streamed from a file, MESSAGE is
    its beginning (for the header check) and EIGHT_BIT says whether the whole of it has 8-bit bytes."""
    params: list[str] = []
    notes: list[str] = []
    if eight_bit is None:
        eight_bit = message is not None and not message.isascii()
    body = wanted.body_type or ("8BITMIME" if wanted.auto and eight_bit else None)
    if body == "7BIT" or (body and body in extensions):
        params.append(f"BODY={body}")
    elif body:
        notes.append(
            f"the message is {body} but the server does not offer {body} (RFC 6152 §3): "
            "sending it without BODY=, the server may damage or refuse it"
        )
    if wanted.auto and needs_utf8(sender, recipients, message):
        if "SMTPUTF8" in extensions:
            params.append("SMTPUTF8")
        else:
            notes.append(
                "UTF-8 in the envelope or headers but the server does not offer SMTPUTF8 (RFC 6531 §3.2)"
            )
    if wanted.auto and "SIZE" in extensions and size is not None:
        params.append(f"SIZE={size}")
        limit = extensions["SIZE"]
        if limit.isdigit() and 0 < int(limit) < size:
            notes.append(f"the message ({size} bytes) is larger than the server's SIZE limit ({limit})")
    if wanted.dsn_ret or wanted.dsn_envid:
        if "DSN" in extensions:
            params += [f"RET={wanted.dsn_ret}"] if wanted.dsn_ret else []
            params += [f"ENVID={xtext.encode(wanted.dsn_envid)}"] if wanted.dsn_envid else []
        else:
            notes.append("the server does not offer DSN: RET=/ENVID= not sent (RFC 3461 §4)")
    if wanted.requiretls:
        if not tls:
            raise Refusal("REQUIRETLS asked for but the connection is not TLS (RFC 8689 §4.1): add --tls")
        if "REQUIRETLS" not in extensions:
            raise Refusal(
                "REQUIRETLS asked for but the server does not offer it (RFC 8689 §4.1): not sending"
            )
        params.append("REQUIRETLS")
    if wanted.prdr:
        if "PRDR" in extensions:
            params.append("PRDR")  # a parameter without a value (draft-hall-prdr-00 §4.2)
        else:
            notes.append(
                "the server does not offer PRDR (draft-hall-prdr-00 §4.1): not asked for, "
                "one reply for the whole message"
            )
    return params + list(wanted.mail_extra), notes


def rcpt_parameters(wanted: Wanted, extensions: dict[str, str], recipient: str) -> list[str]:
    params: list[str] = []
    if "DSN" in extensions:
        if wanted.dsn_notify:
            params.append(f"NOTIFY={wanted.dsn_notify.upper()}")
        if wanted.dsn_orcpt:
            params.append(f"ORCPT=rfc822;{xtext.encode(recipient)}")
    return params + list(wanted.rcpt_extra)


def rcpt_notes(wanted: Wanted, extensions: dict[str, str]) -> list[str]:
    if (wanted.dsn_notify or wanted.dsn_orcpt) and "DSN" not in extensions:
        return ["the server does not offer DSN: NOTIFY=/ORCPT= not sent (RFC 3461 §4)"]
    return []
