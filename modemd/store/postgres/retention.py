"""Bounded state on PostgreSQL: what the database keeps of finished messages, received SMS and delivery reports, and
for how long, with the SQLite backend's rules (store/sqlite/retention.py): past `numbers` the phone numbers in
finished records are masked (domain.redact.mask_number), past `records` the records go (a message with its
lifecycle events); a message still queued or sending is never touched. The work goes in batches of BATCH rows, each
its own transaction (Database.write), so a backlog of months never holds locks or a connection for long.

What is PostgreSQL's own, and why:
- Masking is computed in Python. SQLite lends the UPDATE a Python function; PostgreSQL runs no Python, and the
  mask must be the one the rest of modemd shows (domain.redact). So a batch reads (key, number) rows and writes each
  masked number back by its key, in the same transaction.
- Keys. messages and inbox have their `seq`; inbox_parts and status_reports have no rowid (nor, for the reports, any
  key): a row is named by its ctid, which stays the row's until the transaction ends because the batch holds the
  row locked (nothing can update or delete it meanwhile, and only VACUUM FULL moves rows, under a table lock).
- Several hosts prune the same tables. Each batch takes its rows FOR UPDATE SKIP LOCKED: two hosts pruning at once
  take different rows instead of waiting for each other, and neither waits for a report or a reassembly that holds
  a row right now; a row skipped is taken on a later run.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import psycopg

from ...domain.redact import mask_number
from ...domain.sms import State
from ..records import Pruned
from .database import Database

BATCH = 500
# Done with: every state but queued and sending (a sent message may still get its delivery report, but not months
# later).
_FINAL = "(" + ", ".join(f"'{s.value}'" for s in State if s not in (State.QUEUED, State.SENDING)) + ")"
# (table, number column, key, which rows): the records that hold a phone number, past the age given (the first
# parameter), not masked yet; in key order where the key has one.
_NUMBERS = (("messages", "destination", "seq",
             f"state IN {_FINAL} AND updated_at < %s AND destination NOT LIKE '%%*%%' ORDER BY seq"),
            ("inbox", "sender", "seq", "received_at < %s AND sender NOT LIKE '%%*%%' ORDER BY seq"),
            ("inbox_parts", "sender", "ctid", "received_at < %s AND sender NOT LIKE '%%*%%'"),
            ("status_reports", "recipient", "ctid", "received_at < %s AND recipient NOT LIKE '%%*%%'"))

Batch = Callable[[psycopg.AsyncConnection], Awaitable[int]]


class Retention:
    def __init__(self, db: Database, batch: int = BATCH):
        self.db, self.batch = db, batch

    async def prune(self, now: float, *, records: float, numbers: float) -> Pruned:
        """Mask numbers older than `numbers` seconds, delete records older than `records` seconds."""
        pruned = Pruned()
        for table, column, key, where in _NUMBERS:
            pruned.masked[table] = await self._batches(lambda conn: _mask(conn, table, column, key, where,
                                                                          now - numbers, self.batch))
        for table, work in (("messages", _delete_messages), ("inbox", _delete_inbox),
                            ("status_reports", _delete_reports)):
            pruned.deleted[table] = await self._batches(lambda conn: work(conn, now - records, self.batch))
        return pruned

    async def _batches(self, work: Batch) -> int:
        total = 0
        while True:
            done = await self.db.write(work)
            total += done
            if done < self.batch:
                return total
            await asyncio.sleep(0)          # let the requests' writes in between two batches


async def _mask(conn: psycopg.AsyncConnection, table: str, column: str, key: str, where: str, before: float,
                batch: int) -> int:
    cast = "::text" if key == "ctid" else ""
    cursor = await conn.execute(f"SELECT {key}{cast}, {column} FROM {table} WHERE {where} LIMIT %s "
                                "FOR UPDATE SKIP LOCKED", (before, batch))
    rows = await cursor.fetchall()
    if rows:
        async with conn.cursor() as update:
            await update.executemany(f"UPDATE {table} SET {column} = %s WHERE {key} = %s{'::tid' if cast else ''}",
                                     [(mask_number(number), row_key) for row_key, number in rows])
    return len(rows)


async def _delete_messages(conn: psycopg.AsyncConnection, before: float, batch: int) -> int:
    cursor = await conn.execute(f"SELECT id FROM messages WHERE state IN {_FINAL} AND updated_at < %s ORDER BY seq "
                                "LIMIT %s FOR UPDATE SKIP LOCKED", (before, batch))
    ids = [row[0] for row in await cursor.fetchall()]
    if ids:
        await conn.execute("DELETE FROM message_events WHERE message_id = ANY(%s)", (ids,))
        await conn.execute("DELETE FROM messages WHERE id = ANY(%s)", (ids,))
    return len(ids)


async def _delete_inbox(conn: psycopg.AsyncConnection, before: float, batch: int) -> int:
    # The parts of a message reassembled long ago (or never completed) go by the same age as the messages.
    parts = await conn.execute("DELETE FROM inbox_parts WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox_parts WHERE "
                               "received_at < %s LIMIT %s FOR UPDATE SKIP LOCKED))", (before, batch))
    messages = await conn.execute("DELETE FROM inbox WHERE seq = ANY(ARRAY(SELECT seq FROM inbox WHERE received_at "
                                  "< %s ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED))", (before, batch))
    return max(parts.rowcount, messages.rowcount)     # a full batch of either: there may be more


async def _delete_reports(conn: psycopg.AsyncConnection, before: float, batch: int) -> int:
    cursor = await conn.execute("DELETE FROM status_reports WHERE ctid = ANY(ARRAY(SELECT ctid FROM status_reports "
                                "WHERE received_at < %s LIMIT %s FOR UPDATE SKIP LOCKED))", (before, batch))
    return cursor.rowcount
