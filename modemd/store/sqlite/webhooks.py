"""SQL for webhook deliveries. Shares the database with queue.py.

Events are not handed over in memory: they are read back from the durable logs (`message_events`, `inbox`) past a
cursor, and each one becomes a `webhook_deliveries` row per subscribed webhook in the same transaction that moves
the cursor. A crash anywhere therefore loses no event and captures none twice; a delivery is a row before its first
try, so it survives a restart too.
"""

from __future__ import annotations

import sqlite3
from typing import Callable, Sequence

from ..records import STATE_EVENTS, Delivery, HookSpec, RegisteredHook, Render, SourceEvent
from .queue import Store

# Events captured per transaction: bounds how long one capture holds the writer.
CAPTURE_BATCH = 500


class WebhookStore:
    """store.WebhookStore on SQLite, in the file of `store`."""

    def __init__(self, store: Store):
        self.db = store.db

    async def behind(self) -> bool:
        """True if the logs moved past the cursors (or shrank under them): a capture has work to do. Read-only."""
        def work(conn):
            heads = _heads(conn)
            return any(heads[s] != p for s, p in _cursors(conn).items())
        return await self.db.read(work)

    async def capture(self, hooks: Callable[[], Sequence[HookSpec]], render: Render, now: float) -> tuple[int, bool]:
        """Turn the next batch of log entries into delivery rows and advance the cursors, atomically.
        `hooks` is called inside the transaction so a concurrent reload is seen consistently.
        Returns (deliveries created, more left)."""
        return await self.db.write_bulk(lambda conn: _capture(conn, hooks(), render, now))

    async def due(self, hook: str, now: float, limit: int, skip: set[int]) -> list[Delivery]:
        """Pending deliveries of `hook` that are due and not behind an earlier pending one of the same subject."""
        def work(conn):
            rows = conn.execute(
                "SELECT * FROM webhook_deliveries d WHERE d.hook = ? AND d.state = 'pending' "
                "AND d.next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE "
                "e.hook = d.hook AND e.subject = d.subject AND e.state = 'pending' AND e.seq < d.seq) "
                "ORDER BY d.next_attempt_at, d.seq LIMIT ?", (hook, now, limit + len(skip))).fetchall()
            return [_delivery(r) for r in rows if r["seq"] not in skip][:limit]
        return await self.db.read(work)

    async def next_due_at(self, hook: str) -> float | None:
        def work(conn):
            return conn.execute("SELECT min(next_attempt_at) FROM webhook_deliveries WHERE hook = ? AND "
                                "state = 'pending'", (hook,)).fetchone()[0]
        return await self.db.read(work)

    async def mark_done(self, seq: int, now: float) -> None:
        await self.db.write(lambda conn: conn.execute(
            "UPDATE webhook_deliveries SET state = 'done', attempts = attempts + 1, finished_at = ?, "
            "last_error = NULL WHERE seq = ? AND state = 'pending'", (now, seq)))

    async def mark_retry(self, seq: int, next_attempt_at: float, error: str) -> None:
        await self.db.write(lambda conn: conn.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
            "WHERE seq = ? AND state = 'pending'", (next_attempt_at, error, seq)))

    async def mark_failed(self, seq: int, now: float, error: str) -> None:
        await self.db.write(lambda conn: conn.execute(
            "UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, finished_at = ?, "
            "last_error = ? WHERE seq = ? AND state = 'pending'", (now, error, seq)))

    async def drop_unknown(self, keys: Callable[[], Sequence[str]]) -> dict[str, int]:
        """Delete the pending deliveries of webhooks no longer configured. Returns {hook key: rows dropped}."""
        return await self.db.write_bulk(lambda conn: _drop_unknown(conn, list(keys())))

    async def pending_count(self, hook: str | None = None) -> int:
        def work(conn):
            if hook is None:
                return conn.execute("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'").fetchone()[0]
            return conn.execute("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending' AND hook = ?",
                                (hook,)).fetchone()[0]
        return await self.db.read(work)

    async def deliveries(self, hook: str | None = None) -> list[dict]:
        """Every row, oldest first (inspection and tests)."""
        def work(conn):
            sql = "SELECT * FROM webhook_deliveries" + (" WHERE hook = ?" if hook else "") + " ORDER BY seq"
            return [dict(r) for r in conn.execute(sql, (hook,) if hook else ())]
        return await self.db.read(work)

    async def unsettled(self, limit: int) -> list[dict]:
        return await self.db.read(lambda conn: [dict(r) for r in conn.execute(
            _UNSETTLED, (limit,))])

    async def prune(self, done_before: float, failed_before: float) -> int:
        return await self.db.write_bulk(lambda conn: conn.execute(
            "DELETE FROM webhook_deliveries WHERE (state = 'done' AND finished_at < ?) OR "
            "(state = 'failed' AND finished_at < ?)", (done_before, failed_before)).rowcount)


    # ---- webhooks registered through an API (POST /asg/webhooks) ------------------------------------------------
    async def register(self, hook: RegisteredHook, *, most: int) -> bool:
        """Insert, or replace the app's webhook of that id; refused (False) past `most` webhooks of the app. One
        statement: the count and the write cannot be split by another registration."""
        return await self.db.write(lambda conn: conn.execute(_REGISTER, {**vars(hook), "most": most}).rowcount == 1)

    async def registered(self, app: str | None = None) -> list[RegisteredHook]:
        def work(conn):
            rows = conn.execute("SELECT app, id, url, event, created_at FROM asg_webhooks WHERE ? IS NULL OR app = ? "
                                "ORDER BY created_at, app, id", (app, app))
            return [RegisteredHook(**dict(row)) for row in rows]
        return await self.db.read(work)

    async def unregister(self, app: str, hook_id: str) -> bool:
        return await self.db.write(lambda conn: conn.execute(
            "DELETE FROM asg_webhooks WHERE app = ? AND id = ?", (app, hook_id)).rowcount == 1)


# A new webhook only while the app has fewer than `most`; the app's webhook of that id is replaced whatever the count
# (it keeps its place: created_at stays). SQLite's upsert needs the WHERE on the SELECT to parse (`WHERE true`).
_REGISTER = """
    INSERT INTO asg_webhooks (app, id, url, event, created_at)
    SELECT :app, :id, :url, :event, :created_at WHERE true AND (
        EXISTS (SELECT 1 FROM asg_webhooks WHERE app = :app AND id = :id)
        OR (SELECT count(*) FROM asg_webhooks WHERE app = :app) < :most)
    ON CONFLICT (app, id) DO UPDATE SET url = excluded.url, event = excluded.event
"""


# ---- SQL, run on the writer thread inside a transaction ---------------------------------------------------------
def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(seq=row["seq"], hook=row["hook"], event_id=row["event_id"], event_type=row["event_type"],
                    subject=row["subject"], body=row["body"], attempts=row["attempts"], queued_at=row["queued_at"])


def _cursors(conn: sqlite3.Connection) -> dict[str, int]:
    return {r["source"]: r["position"] for r in conn.execute("SELECT source, position FROM webhook_cursors")}


def _heads(conn: sqlite3.Connection) -> dict[str, int]:
    row = conn.execute("SELECT (SELECT coalesce(max(rowid), 0) FROM message_events), "
                       "(SELECT coalesce(max(seq), 0) FROM inbox)").fetchone()
    return {"message_events": row[0], "inbox": row[1]}


def _capture(conn: sqlite3.Connection, hooks: Sequence[HookSpec], render: Render, now: float) -> tuple[int, bool]:
    cursors, heads = _cursors(conn), _heads(conn)
    for source, head in heads.items():
        # message_events has plain rowids: emptied completely, it would count from 1 again. Follow it down rather
        # than wait, silent, until it grows past the old position. (Event ids do not depend on rowids.)
        if head < cursors[source]:
            cursors[source] = 0
    events, positions = _read_events(conn, cursors, heads)
    created = 0
    for event in events:
        for hook in hooks:
            if hook.wants(event):
                event_id, body = render(event, hook)
                created += conn.execute(
                    "INSERT OR IGNORE INTO webhook_deliveries (hook, event_id, event_type, subject, body, state, "
                    "queued_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (hook.key, event_id, event.type, event.subject, body, now, now)).rowcount
    for source, position in positions.items():
        conn.execute("UPDATE webhook_cursors SET position = ? WHERE source = ?", (position, source))
    more = any(positions[s] < heads[s] for s in positions)
    return created, more


def _read_events(conn: sqlite3.Connection, cursors: dict[str, int], heads: dict[str, int]
                 ) -> tuple[list[SourceEvent], dict[str, int]]:
    events: list[SourceEvent] = []
    positions = dict(cursors)
    # Only the transitions webhooks announce are read (and joined to their message); the others (queued,
    # sending, and back to queued on a retry) are skipped inside SQLite, not fetched row by row onto the writer
    # thread: at 3,000 accepted messages/s those are nearly all of the log.
    wanted = tuple(STATE_EVENTS)
    rows = conn.execute(
        "SELECT e.rowid AS event_rowid, e.message_id AS event_message, e.at AS event_at, e.to_state, m.* "
        "FROM message_events e LEFT JOIN messages m ON m.id = e.message_id "
        f"WHERE e.rowid > ? AND e.rowid <= ? AND e.to_state IN ({', '.join('?' * len(wanted))}) "
        "ORDER BY e.rowid LIMIT ?", (cursors["message_events"], heads["message_events"], *wanted,
                                     CAPTURE_BATCH)).fetchall()
    for row in rows:
        events.append(SourceEvent(STATE_EVENTS[row["to_state"]], f"m{row['event_rowid']}",
                                  row["event_message"], row["event_at"], dict(row)))
    # A full batch: more may follow, resume after the last one read; otherwise everything up to the head is done.
    positions["message_events"] = rows[-1]["event_rowid"] if len(rows) == CAPTURE_BATCH else \
        max(cursors["message_events"], heads["message_events"])
    for row in conn.execute("SELECT * FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?",
                            (cursors["inbox"], CAPTURE_BATCH)):
        positions["inbox"] = row["seq"]
        events.append(SourceEvent("sms:received", f"i{row['seq']}", row["id"], row["received_at"], dict(row)))
    return events, positions


def _drop_unknown(conn: sqlite3.Connection, keys: list[str]) -> dict[str, int]:
    placeholders = ", ".join("?" * len(keys))
    where = "state = 'pending'" + (f" AND hook NOT IN ({placeholders})" if keys else "")
    counts = {r[0]: r[1] for r in conn.execute(
        f"SELECT hook, count(*) FROM webhook_deliveries WHERE {where} GROUP BY hook", keys)}
    if counts:
        conn.execute(f"DELETE FROM webhook_deliveries WHERE {where}", keys)
    return counts


# The admin page's view of deliveries not done: what and when, never the body (it names the message's numbers).
_UNSETTLED = ("SELECT seq, hook, event_type, state, attempts, queued_at, next_attempt_at, finished_at, last_error "
              "FROM webhook_deliveries WHERE state != 'done' ORDER BY seq DESC LIMIT ?")
