"""The read side of the SQLite queue (store.Store's reads): messages by id, page and batch, their histories, counts
per state, per modem and per route, the sends of the last hours. Store (queue.py) is a QueueReads; nothing here
writes.
"""

from __future__ import annotations

import sqlite3

from ..modem_usage import QUEUED_BY_ROUTE, counts_query, sent_parts_query
from ..records import MESSAGE_COLUMNS, message_page, outbound_from_row
from .database import Database
from ...domain.sms import OutboundSms, State

_COLUMNS = MESSAGE_COLUMNS
SENT_PARTS, COUNTS = sent_parts_query("?"), counts_query("?")


class QueueReads:
    db: Database

    async def get(self, message_id: str) -> OutboundSms | None:
        def work(conn):
            row = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
            return outbound_from_row(row) if row else None
        return await self.db.read(work)

    async def list(self, *, state: State | None = None, limit: int = 50, after: str | None = None,
                   app: str | None = None) -> list[OutboundSms]:
        """Newest first; `after` is the id of the last message of the previous page; `app`: only its messages."""
        sql, args = message_page("?", state=state, limit=limit, after=after, app=app)
        return await self.db.read(lambda conn: [outbound_from_row(r) for r in conn.execute(sql, args)])

    async def batch(self, batch_id: str, *, app: str | None = None) -> list[OutboundSms]:
        return await self.db.read(lambda conn: batch_rows(conn, batch_id, app))

    async def sent_parts(self, modem: str, since: float) -> int:
        return await self.db.read(lambda conn: conn.execute(SENT_PARTS, (modem, since) * 2).fetchone()[0])

    async def modem_counts(self, modem: str, since: float) -> dict[str, int]:
        return await self.db.read(lambda conn: dict(conn.execute(COUNTS, (modem, since) * 4).fetchone()))

    async def queued_by_route(self) -> dict[str | None, tuple[int, float]]:
        return await self.db.read(lambda conn: {r[0]: (r[1], r[2]) for r in conn.execute(QUEUED_BY_ROUTE)})

    async def counts(self) -> dict[str, int]:
        """Messages per state (those with none left out), from the counters the schema's triggers keep."""
        def work(conn):
            return {r[0]: r[1] for r in conn.execute("SELECT state, sum(n) FROM message_counts GROUP BY state "
                                                     "HAVING sum(n) > 0")}
        return await self.db.read(work)

    async def oldest_queued_at(self) -> float | None:
        def work(conn):
            # seq follows acceptance, and messages_state (state, seq) finds the first queued one in one probe.
            row = conn.execute("SELECT created_at FROM messages WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
            return row[0] if row else None
        return await self.db.read(work)

    async def sends_since(self, since: float, limit: int) -> list[tuple[float, float]]:
        def work(conn):
            rows = conn.execute("SELECT e.at, e.at - m.created_at FROM message_events e JOIN messages m ON m.id = "
                                "e.message_id WHERE e.to_state = 'sent' AND e.at >= ? ORDER BY e.at DESC LIMIT ?",
                                (since, limit))
            return [(r[0], max(0.0, r[1])) for r in rows]
        return await self.db.read(work)

    async def events(self, message_id: str) -> list[dict]:
        def work(conn):
            rows = conn.execute("SELECT at, from_state, to_state, reason FROM message_events WHERE message_id = ? "
                                "ORDER BY rowid", (message_id,))
            return [dict(r) for r in rows]
        return await self.db.read(work)


def batch_rows(conn: sqlite3.Connection, batch_id: str, app: str | None = None) -> list[OutboundSms]:
    mine, args = (" AND app = ?", (app,)) if app is not None else ("", ())
    rows = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE batch_id = ?{mine} ORDER BY seq", (batch_id, *args))
    return [outbound_from_row(row) for row in rows]
