"""The replies to a message once its data is sent: one for SMTP; one per accepted recipient, in RCPT order, for
LMTP (RFC 2033 §4.2); and with PRDR (draft-hall-prdr-00 §4.4, §4.5) a 353, then one reply per accepted
recipient in RCPT order, then the reply for the message -- or, when every recipient gets the same verdict, just
that one reply without the 353 (Exim does so for a single recipient). Each recipient's reply is kept in
tx.verdicts (--json: recipient_replies); the stage fails when no recipient got the message."""

from __future__ import annotations

from smtpprobe.errors import StageFailure
from smtpprobe.exitcodes import Exit


def final_replies(s, tx) -> None:
    if tx.lmtp:
        tx.verdicts = [(rcpt, s.read_reply()) for rcpt in tx.accepted]
        for rcpt, reply in tx.verdicts:
            if reply.category != 2:
                s.transcript.info(f"LMTP: not delivered to {rcpt}: {reply}")
        _delivered(tx, tx.verdicts[-1][1])
        return
    reply = s.read_reply()
    if tx.prdr_sent:
        if reply.code == 353:
            tx.verdicts = [(rcpt, s.read_reply()) for rcpt in tx.accepted]
            reply = s.read_reply()
            for rcpt, verdict in tx.verdicts:  # the replies do not always name their recipient: say whose
                s.transcript.info(f"PRDR reply for {rcpt}: {verdict}")
        else:
            s.transcript.info("PRDR: no 353, so this one reply is every recipient's")
            tx.verdicts = [(rcpt, reply) for rcpt in tx.accepted]
    if reply.category != 2:
        raise StageFailure("dot", f"message refused after end of data: {reply}", Exit.DATA)
    if tx.verdicts:
        _delivered(tx, reply)


def _delivered(tx, last) -> None:
    tx.delivered = [rcpt for rcpt, reply in tx.verdicts if reply.category == 2]
    if not tx.delivered:
        raise StageFailure("dot", f"message refused for every recipient: {last}", Exit.DATA)
