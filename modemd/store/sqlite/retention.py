"""Bounded state: what the database keeps of finished messages, received SMS and delivery reports, and for how long.

Without it, `messages`, `message_events`, `inbox`, `inbox_parts` and `status_reports` grew forever and kept full
phone numbers forever. Two ages ([retention] in the config):
- `numbers`: past it, the phone numbers in finished records are masked (+4915******678: enough to tell records
  apart, not to dial), so a copy of an old database says little about who was texted;
- `records`: past it, the records themselves go (a message with its lifecycle events).
A message still queued or sending is never touched, whatever its age.

The work runs on the writer thread (Database.write_bulk) in batches of BATCH rows, each its own short transaction, so
pruning a backlog of months never holds the event loop nor the write lock for long.
"""

from __future__ import annotations

import asyncio
import sqlite3

from .database import Database
from ...domain.redact import mask_number
from ...domain.sms import State
from ..records import Pruned

BATCH = 500
# Done with: every state but queued and sending (a sent message may still get its delivery report, but not months
# later).
_FINAL = "(" + ", ".join(f"'{s.value}'" for s in State if s not in (State.QUEUED, State.SENDING)) + ")"
# (table, number column, which rows): the records that hold a phone number, past the age given, not masked yet.
_NUMBERS = (("messages", "destination", f"seq IN (SELECT seq FROM messages WHERE state IN {_FINAL} "
             "AND updated_at < ? AND destination NOT LIKE '%*%' ORDER BY seq LIMIT ?)"),
            ("inbox", "sender", "seq IN (SELECT seq FROM inbox WHERE received_at < ? AND sender NOT "
             "LIKE '%*%' ORDER BY seq LIMIT ?)"),
            ("inbox_parts", "sender", "rowid IN (SELECT rowid FROM inbox_parts WHERE received_at < ? "
             "AND sender NOT LIKE '%*%' LIMIT ?)"),
            ("status_reports", "recipient", "rowid IN (SELECT rowid FROM status_reports WHERE "
             "received_at < ? AND recipient NOT LIKE '%*%' LIMIT ?)"))


class Retention:
    def __init__(self, db: Database, batch: int = BATCH):
        self.db, self.batch = db, batch

    async def prune(self, now: float, *, records: float, numbers: float) -> Pruned:
        """Mask numbers older than `numbers` seconds, delete records older than `records` seconds."""
        pruned = Pruned()
        for table, column, where in _NUMBERS:
            pruned.masked[table] = await self._batches(lambda conn: _mask(conn, table, column, where, now - numbers,
                                                                          self.batch))
        for table, work in (("messages", _delete_messages), ("inbox", _delete_inbox),
                            ("status_reports", _delete_reports)):
            pruned.deleted[table] = await self._batches(lambda conn: work(conn, now - records, self.batch))
        return pruned

    async def _batches(self, work) -> int:
        total = 0
        while True:
            done = await self.db.write_bulk(work)
            total += done
            if done < self.batch:
                return total
            await asyncio.sleep(0)          # let the requests' writes in between two batches


def _mask(conn: sqlite3.Connection, table: str, column: str, where: str, before: float, batch: int) -> int:
    conn.create_function("mask_number", 1, mask_number, deterministic=True)
    return conn.execute(f"UPDATE {table} SET {column} = mask_number({column}) WHERE {where}", (before, batch)).rowcount


def _delete_messages(conn: sqlite3.Connection, before: float, batch: int) -> int:
    ids = [row[0] for row in conn.execute(f"SELECT id FROM messages WHERE state IN {_FINAL} AND updated_at < ? "
                                          "ORDER BY seq LIMIT ?", (before, batch))]
    if ids:
        marks = ", ".join("?" * len(ids))
        conn.execute(f"DELETE FROM message_events WHERE message_id IN ({marks})", ids)
        conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", ids)
    return len(ids)


def _delete_inbox(conn: sqlite3.Connection, before: float, batch: int) -> int:
    # The parts of a message reassembled long ago (or never completed) go by the same age as the messages.
    parts = conn.execute("DELETE FROM inbox_parts WHERE rowid IN (SELECT rowid FROM inbox_parts WHERE received_at < "
                         "? LIMIT ?)", (before, batch)).rowcount
    messages = conn.execute("DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox WHERE received_at < ? ORDER BY "
                            "seq LIMIT ?)", (before, batch)).rowcount
    return max(parts, messages)         # a full batch of either: there may be more


def _delete_reports(conn: sqlite3.Connection, before: float, batch: int) -> int:
    return conn.execute("DELETE FROM status_reports WHERE rowid IN (SELECT rowid FROM status_reports WHERE "
                        "received_at < ? LIMIT ?)", (before, batch)).rowcount
