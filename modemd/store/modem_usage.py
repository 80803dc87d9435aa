"""What one modem sent, failed and left unknown since a time: the SQL both backends run (the same text, with their
own placeholder), for the SIM budgets (services/outbox/budget.py) and the per-modem counters of /v1/modems.

Definitions (docs/health.md):
  sent parts          the parts of the modem's messages sent since T (sent_at; messages_modem_sent is the index
                      schema version 14 / PostgreSQL 10 added for it), plus those of its messages whose send may have
                      gone out and was never confirmed (`ambiguous` > 0, no sent_at; queued for a resend, or failed
                      with no resend left): a SIM budget counts what may have left, not only what surely did
  sent                messages sent since T (still `sent`, or settled since by a delivery report)
  failed              messages that ended `failed` since T, after this modem's try
  possible_duplicate  messages sent since T flagged possible_duplicate: an earlier try may have reached the handset
  unknown             messages whose send on this modem had an unknown outcome (domain.sms `ambiguous`: a timeout
                      after the payload, CMS 332, a crash while sending) since T, and that no later send confirmed
Messages carry the modem's name only (on a fleet of hosts: the counts are per modem name). The ambiguous rows are
found through messages_state (state, seq): queued and failed ones only, never the whole table.
"""

from __future__ import annotations

_SENT = "SELECT {agg} FROM messages WHERE modem = {p} AND sent_at >= {p}"
_UNCONFIRMED = ("SELECT {agg} FROM messages WHERE state IN ('queued', 'failed') AND modem = {p} AND ambiguous > 0 "
                "AND sent_at IS NULL AND updated_at >= {p}")
_FAILED = "SELECT count(*) FROM messages WHERE state = 'failed' AND modem = {p} AND updated_at >= {p}"
_DUPLICATES = "SELECT count(*) FROM messages WHERE modem = {p} AND sent_at >= {p} AND possible_duplicate <> 0"

COUNTERS = ("sent", "failed", "possible_duplicate", "unknown")


def sent_parts_query(placeholder: str) -> str:
    """One row, one column: the parts `modem` sent (or may have) since T; parameters (modem, T, modem, T)."""
    parts = "coalesce(sum(parts), 0)"
    return (f"SELECT ({_SENT.format(agg=parts, p=placeholder)}) + ({_UNCONFIRMED.format(agg=parts, p=placeholder)})"
            " AS parts")


def counts_query(placeholder: str) -> str:
    """One row: sent, failed, possible_duplicate, unknown since T; parameters (modem, T) four times."""
    p = placeholder
    columns = (_SENT.format(agg="count(*)", p=p), _FAILED.format(p=p), _DUPLICATES.format(p=p),
               _UNCONFIRMED.format(agg="count(*)", p=p))
    return "SELECT " + ", ".join(f"({sql}) AS {name}" for sql, name in zip(columns, COUNTERS))


# What waits in the queue per route (domain/routing.py: "modem:NAME", "group:NAME", or NULL for any modem): a modem's
# queue is the unrouted messages and those of its own routes (api/modem_health.py adds them up). One pass over the
# queued rows (messages_due is partial on state = 'queued'); the admin page asks every few seconds.
QUEUED_BY_ROUTE = ("SELECT route, count(*) AS n, min(created_at) AS oldest FROM messages WHERE state = 'queued' "
                   "GROUP BY route")
