"""Inbound SMS (parts, reassembly, inbox) and delivery reports on PostgreSQL (store.InboxStore), with the SQLite
backend's behaviour (store/sqlite/inbox.py): parts stored before the modem's copy is deleted, a repeat dropped by
the table's key (INSERT ... ON CONFLICT DO NOTHING); a message enters `inbox` when all its parts are here, or after
the reassembly timeout with what arrived (incomplete); its text is the parts' user data decoded as one stream
(codec.pdu.join_user_data). What a report's TP-ST means is domain.delivery; the move goes through transitions.move.

What is PostgreSQL's own, and why:
- Completion exactly once. Two parts of one message handled at once (two connections of the pool) would each insert
  its part and count the group without seeing the other's uncommitted row: neither completes, and the message
  waits for the timeout to arrive incomplete. So a multipart part first takes a transaction-level advisory lock on
  its group (modem, sender, reference, total), then inserts and counts: the second transaction is granted the lock
  when the first commits, and its count (a new statement under READ COMMITTED) sees the first one's part. Exactly
  one transaction finds the group whole, and it deletes the parts it turns into the message.
- flush_stale takes each stale group's lock with pg_try_advisory_xact_lock: a group another host is flushing, or a
  part of which is being stored right now, is left to the next round instead of waited for (two hosts' flushes
  cannot deadlock), and the parts are read again under the lock, so a group another host took meanwhile is not
  taken twice.
- Reports by host. Modem names repeat across hosts ("sim0" on each), so a report is matched to a message this host
  sent (messages.node), through the index (node, modem, right(destination, 9), sent_at) of schema version 2.
  refs is JSON text ('[12, 13]'): `refs::jsonb @> to_jsonb(reference)` is true when the array holds the number.
- The matched message is locked (FOR UPDATE) before its report_status is read: the reports of two parts arriving
  at once would otherwise both read the same map and the later write would drop the earlier part's status. The
  second waits for the first's commit and then reads the row as that left it.
"""

from __future__ import annotations

import json
from typing import Callable

import psycopg
from psycopg.rows import dict_row

from ...codec import pdu
from ...domain.sms import State
from ..records import InboundPart, InboxMessage, report_settlement
from .queue import Store
from .transitions import move

# pg_advisory_xact_lock(int4, int4): the first key names what is locked (ASCII "ip", inbox parts; the rate limits'
# class is "rl"), the second is the group's hash (a collision only makes two groups wait for each other).
LOCK_CLASS = 0x6970

_PART_COLUMNS = "modem, sender, ref, total, seq, text, sc_timestamp, received_at, pdu_digest, encoding, data, shift"
_INBOX_COLUMNS = "id, modem, sender, text, parts, complete, sc_timestamp, received_at, seq"

# The message a report is for: this host's, sent by `modem` to the number (last 9 digits: networks write it in
# international or national form) with the reference among its parts' TP-MRs, within the window; the newest if
# references wrapped. All of the index's columns narrow the search: it never scans every message sent.
# Parameters: node, modem, recipient, sent since, reference.
REPORT_MATCH_SQL = (
    "SELECT id, refs, report_status, state FROM messages WHERE node = %s AND modem = %s "
    "AND right(destination, 9) = right(%s, 9) AND sent_at >= %s AND refs::jsonb @> to_jsonb(%s::integer) "
    "AND state IN ('sent', 'delivered', 'failed') ORDER BY sent_at DESC LIMIT 1")


def _inbox_row(row: dict) -> InboxMessage:
    return InboxMessage(id=row["id"], modem=row["modem"], sender=row["sender"], text=row["text"],
                        parts=row["parts"], complete=bool(row["complete"]), sc_timestamp=row["sc_timestamp"],
                        received_at=row["received_at"], seq=row["seq"])


async def _one(conn: psycopg.AsyncConnection, query: str, params=()) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchone()


async def _all(conn: psycopg.AsyncConnection, query: str, params=()) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()


class InboxStore:
    """store.InboxStore on PostgreSQL, in the database of `store` (a postgres.queue.Store: its pool and its host)."""

    def __init__(self, store: Store):
        self.db = store.db
        self.node = store.node

    async def add_part(self, part: InboundPart, new_id: str) -> InboxMessage | None:
        """Store one part (idempotent). Returns the inbox message if this part completed one."""
        return await self.db.write(lambda conn: _add_part(conn, part, new_id))

    async def flush_stale(self, older_than: float, new_id: Callable[[], str]) -> list[InboxMessage]:
        """Groups whose first part is older than `older_than` go to the inbox as they are, marked incomplete."""
        return await self.db.write(lambda conn: _flush_stale(conn, older_than, new_id))

    async def list(self, *, after: str | None = None, limit: int = 50) -> list[InboxMessage]:
        """Oldest first, so `after` pages forward through what arrived (a client keeps the last id it saw)."""
        async def work(conn):
            if after:
                rows = await _all(conn, f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE seq > coalesce((SELECT seq FROM "
                                        "inbox WHERE id = %s), 0) ORDER BY seq LIMIT %s", (after, limit))
            else:
                rows = await _all(conn, f"SELECT {_INBOX_COLUMNS} FROM inbox ORDER BY seq LIMIT %s", (limit,))
            return [_inbox_row(r) for r in rows]
        return await self.db.read(work)

    async def get(self, message_id: str) -> InboxMessage | None:
        async def work(conn):
            row = await _one(conn, f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE id = %s", (message_id,))
            return _inbox_row(row) if row else None
        return await self.db.read(work)

    async def apply_status_report(self, modem: str, reference: int, recipient: str, status: int,
                                  discharge_time: float | None, now: float, window: float) -> tuple[str, str] | None:
        """Match a report to the message this host's `modem` sent to `recipient` with this TP-MR within `window`
        seconds (references wrap at 256) and settle it. Returns (message id, new state) if it changed state."""
        return await self.db.write(lambda conn: _apply_report(conn, self.node, modem, reference, recipient, status,
                                                              discharge_time, now, window))

    async def apply_held_report(self, message_id: str, modem: str, reference: int, recipient: str,
                                received_at: float) -> tuple[str, str] | None:
        return await self.db.write(lambda conn: _apply_held_report(conn, self.node, message_id, modem, reference,
                                                                   recipient, received_at))


# ---- SQL, run inside a transaction of Database.write ------------------------------------------------------------
async def _lock_group(conn: psycopg.AsyncConnection, modem: str, sender: str, ref: int, total: int, *,
                      wait: bool = True) -> bool:
    """The group's advisory lock, until the transaction ends; wait=False: only if no one else holds it now."""
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    cursor = await conn.execute(f"SELECT {function}(%s, hashtext(%s))",
                                (LOCK_CLASS, json.dumps([modem, sender, ref, total])))
    row = await cursor.fetchone()
    return wait or row[0]


async def _add_part(conn: psycopg.AsyncConnection, part: InboundPart, new_id: str) -> InboxMessage | None:
    if part.ref >= 0:
        await _lock_group(conn, part.modem, part.sender, part.ref, part.total)
    cursor = await conn.execute(
        f"INSERT INTO inbox_parts ({_PART_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        (part.modem, part.sender, part.ref, part.total, part.seq, part.text, part.sc_timestamp, part.received_at,
         part.pdu_digest if part.ref < 0 else "", part.encoding, part.data, f"{part.shift[0]},{part.shift[1]}"))
    if cursor.rowcount == 0:
        return None                       # the same part read twice
    if part.ref < 0:
        return await _complete(conn, part.modem, part.sender, part.ref, part.total, lambda: new_id, complete=True,
                               digest=part.pdu_digest)
    have = await _one(conn, "SELECT count(*) AS n FROM inbox_parts WHERE modem = %s AND sender = %s AND ref = %s "
                            "AND total = %s", (part.modem, part.sender, part.ref, part.total))
    if have["n"] < part.total:
        return None
    return await _complete(conn, part.modem, part.sender, part.ref, part.total, lambda: new_id, complete=True)


async def _complete(conn: psycopg.AsyncConnection, modem: str, sender: str, ref: int, total: int,
                    new_id: Callable[[], str], *, complete: bool, digest: str = "",
                    stale_before: float | None = None) -> InboxMessage | None:
    """The group's parts -> one inbox message, the parts deleted. stale_before: only if the group's first part is
    older than that (None if the group is gone, or is a newer one, by the time its lock was had)."""
    key = (modem, sender, ref, total, digest) if ref < 0 else (modem, sender, ref, total)
    where = "modem = %s AND sender = %s AND ref = %s AND total = %s" + (" AND pdu_digest = %s" if ref < 0 else "")
    rows = await _all(conn, f"SELECT seq, text, sc_timestamp, received_at, encoding, data, shift FROM inbox_parts "
                            f"WHERE {where} ORDER BY seq FOR UPDATE", key)
    if not rows or stale_before is not None and min(r["received_at"] for r in rows) >= stale_before:
        return None
    if complete:
        text = pdu.join_user_data([pdu.PartData(r["encoding"], tuple(int(x) for x in r["shift"].split(",")),
                                                r["data"], r["text"]) for r in rows])
    else:
        text = "".join(r["text"] for r in rows)
    stamps = [r["sc_timestamp"] for r in rows if r["sc_timestamp"] is not None]
    received = max(r["received_at"] for r in rows)
    await conn.execute(f"DELETE FROM inbox_parts WHERE {where}", key)
    message_id, stamp = new_id(), min(stamps) if stamps else None
    # A single part remembers its digest: the same one stored again later is not a new message (schema 9).
    row = await _one(conn, "INSERT INTO inbox (id, modem, sender, text, parts, complete, sc_timestamp, received_at, "
                           "source_digest) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (modem, sender, "
                           "source_digest) WHERE source_digest IS NOT NULL DO NOTHING RETURNING seq",
                     (message_id, modem, sender, text, len(rows), int(complete), stamp, received,
                      digest if ref < 0 else None))
    if row is None:
        return None
    return InboxMessage(message_id, modem, sender, text, len(rows), complete, stamp, received, row["seq"])


async def _flush_stale(conn: psycopg.AsyncConnection, older_than: float,
                       new_id: Callable[[], str]) -> list[InboxMessage]:
    groups = await _all(conn, "SELECT modem, sender, ref, total FROM inbox_parts WHERE ref >= 0 GROUP BY modem, "
                              "sender, ref, total HAVING min(received_at) < %s ORDER BY modem, sender, ref, total",
                        (older_than,))
    flushed = []
    for g in groups:
        if not await _lock_group(conn, g["modem"], g["sender"], g["ref"], g["total"], wait=False):
            continue                      # being stored to or flushed by another transaction: the next round's
        message = await _complete(conn, g["modem"], g["sender"], g["ref"], g["total"], new_id, complete=False,
                                  stale_before=older_than)
        if message is not None:
            flushed.append(message)
    return flushed


async def _apply_report(conn: psycopg.AsyncConnection, node: str, modem: str, reference: int, recipient: str,
                        status: int, discharge_time: float | None, now: float,
                        window: float) -> tuple[str, str] | None:
    row = await _one(conn, REPORT_MATCH_SQL + " FOR UPDATE", (node, modem, recipient, now - window, reference))
    await conn.execute("INSERT INTO status_reports (modem, reference, recipient, status, discharge_time, received_at, "
                       "message_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                       (modem, reference, recipient, status, discharge_time, now, row["id"] if row else None))
    if row is None:
        return None
    reports = json.loads(row["report_status"])
    reports[str(reference)] = status
    await conn.execute("UPDATE messages SET report_status = %s WHERE id = %s", (json.dumps(reports), row["id"]))
    return await _settle(conn, row["id"], row["state"], json.loads(row["refs"]), reports, discharge_time or now)


async def _apply_held_report(conn: psycopg.AsyncConnection, node: str, message_id: str, modem: str, reference: int,
                             recipient: str, received_at: float) -> tuple[str, str] | None:
    # This host's message only: modem names may repeat across hosts (as in REPORT_MATCH_SQL).
    message = await _one(conn, "SELECT refs, report_status FROM messages WHERE id = %s AND node = %s AND modem = %s "
                               "AND state = 'sent' AND right(destination, 9) = right(%s, 9) FOR UPDATE",
                         (message_id, node, modem, recipient))
    if message is None or reference not in json.loads(message["refs"]):
        return None
    report = await _one(conn, "SELECT ctid, status, discharge_time FROM status_reports WHERE message_id IS NULL AND "
                              "modem = %s AND reference = %s AND recipient = %s AND received_at = %s LIMIT 1 "
                              "FOR UPDATE", (modem, reference, recipient, received_at))
    if report is None:
        return None
    await conn.execute("UPDATE status_reports SET message_id = %s WHERE ctid = %s::tid", (message_id, report["ctid"]))
    reports = json.loads(message["report_status"])
    reports[str(reference)] = report["status"]
    await conn.execute("UPDATE messages SET report_status = %s WHERE id = %s", (json.dumps(reports), message_id))
    return await _settle(conn, message_id, "sent", json.loads(message["refs"]), reports,
                         report["discharge_time"] or received_at)


async def _settle(conn: psycopg.AsyncConnection, message_id: str, state: str, refs: list[int], reports: dict,
                  at: float) -> tuple[str, str] | None:
    settled = report_settlement(state, refs, reports, at)
    if settled is None:
        return None
    target, reason, sets = settled
    if await move(conn, message_id, State.SENT, target, reason, at, sets=sets) is None:
        return None
    return message_id, target.value
