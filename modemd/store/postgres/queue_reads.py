"""The read side of the PostgreSQL queue (store.Store's reads): messages by id, page and batch, their histories,
counts per state, per modem and per route, the sends of the last hours, the fleet's hosts. Store (queue.py) is a
QueueReads; nothing here writes.
"""

from __future__ import annotations

import json
from typing import Sequence

import psycopg
from psycopg.rows import dict_row

from ...domain.sms import OutboundSms, State
from ..modem_usage import QUEUED_BY_ROUTE, counts_query, sent_parts_query
from ..records import MESSAGE_COLUMNS, message_page, outbound_from_row
from .database import Database

_COLUMNS = MESSAGE_COLUMNS
SENT_PARTS, COUNTS = sent_parts_query("%s"), counts_query("%s")


async def fetch_one(conn: psycopg.AsyncConnection, query: str, params: Sequence = ()) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchone()


async def fetch_all(conn: psycopg.AsyncConnection, query: str, params: Sequence = ()) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()


class QueueReads:
    db: Database

    async def nodes(self) -> list[dict]:
        """Every host that ever renewed: name, started_at, renewed_at, lease, modems, otp_key, config (the fleet
        views)."""
        async def work(conn):
            rows = await fetch_all(conn, "SELECT name, started_at, renewed_at, lease, modems, otp_key, config "
                                         "FROM nodes ORDER BY name")
            return [{**row, "modems": json.loads(row["modems"]), "config": json.loads(row["config"])} for row in rows]
        return await self.db.read(work)

    async def get(self, message_id: str) -> OutboundSms | None:
        async def work(conn):
            row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM messages WHERE id = %s", (message_id,))
            return outbound_from_row(row) if row else None
        return await self.db.read(work)

    async def list(self, *, state: State | None = None, limit: int = 50, after: str | None = None,
                   app: str | None = None) -> list[OutboundSms]:
        """Newest first; `after` is the id of the last message of the previous page; `app`: only its messages."""
        sql, args = message_page("%s", state=state, limit=limit, after=after, app=app)

        async def work(conn):
            return [outbound_from_row(r) for r in await fetch_all(conn, sql, args)]
        return await self.db.read(work)

    async def batch(self, batch_id: str, *, app: str | None = None) -> list[OutboundSms]:
        return await self.db.read(lambda conn: batch_rows(conn, batch_id, app))

    async def sent_parts(self, modem: str, since: float) -> int:
        async def work(conn):
            return int((await fetch_one(conn, SENT_PARTS, (modem, since) * 2))["parts"])
        return await self.db.read(work)

    async def modem_counts(self, modem: str, since: float) -> dict[str, int]:
        async def work(conn):
            return {name: int(n) for name, n in (await fetch_one(conn, COUNTS, (modem, since) * 4)).items()}
        return await self.db.read(work)

    async def queued_by_route(self) -> dict[str | None, tuple[int, float]]:
        async def work(conn):
            return {r["route"]: (int(r["n"]), float(r["oldest"])) for r in await fetch_all(conn, QUEUED_BY_ROUTE)}
        return await self.db.read(work)

    async def counts(self) -> dict[str, int]:
        async def work(conn):
            rows = await fetch_all(conn, "SELECT state, sum(n) AS n FROM message_counts GROUP BY state HAVING sum(n) > 0")
            return {r["state"]: int(r["n"]) for r in rows}
        return await self.db.read(work)

    async def oldest_queued_at(self) -> float | None:
        async def work(conn):
            row = await fetch_one(conn, "SELECT created_at FROM messages WHERE state = 'queued' ORDER BY seq LIMIT 1")
            return row["created_at"] if row else None
        return await self.db.read(work)

    async def sends_since(self, since: float, limit: int) -> list[tuple[float, float]]:
        async def work(conn):
            rows = await fetch_all(conn, "SELECT e.at, e.at - m.created_at AS latency FROM message_events e JOIN messages m "
                                    "ON m.id = e.message_id WHERE e.to_state = 'sent' AND e.at >= %s "
                                    "ORDER BY e.at DESC LIMIT %s", (since, limit))
            return [(r["at"], max(0.0, r["latency"])) for r in rows]
        return await self.db.read(work)

    async def events(self, message_id: str) -> list[dict]:
        return await self.db.read(lambda conn: fetch_all(
            conn, "SELECT at, from_state, to_state, reason FROM message_events WHERE message_id = %s ORDER BY rowid",
            (message_id,)))


async def batch_rows(conn: psycopg.AsyncConnection, batch_id: str, app: str | None = None) -> list[OutboundSms]:
    mine, args = (" AND app = %s", (app,)) if app is not None else ("", ())
    rows = await fetch_all(conn, f"SELECT {_COLUMNS} FROM messages WHERE batch_id = %s{mine} ORDER BY seq",
                      (batch_id, *args))
    return [outbound_from_row(row) for row in rows]
