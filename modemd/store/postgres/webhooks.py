"""Webhook deliveries on PostgreSQL (store.WebhookStore), shared by every host on the database: each event becomes
one delivery per webhook whichever hosts are up, and one host at a time POSTs it.

As on SQLite (store/sqlite/webhooks.py), events are read back from the durable logs (`message_events`, `inbox`),
never handed over in memory, and a delivery is a row before its first try. What differs, and why:
- No cursors: a backlog. Identity values are handed out when a row is inserted, not when it commits, so a cursor
  over message_events.rowid could move past a row that a slower transaction commits later with a lower id, and
  that event would never be captured. Instead a trigger lists every event webhooks announce (records.STATE_EVENTS,
  and each inbox row) in `webhook_backlog`, in the transaction that logged it; capture reads the oldest batch of
  backlog rows that have committed, makes the deliveries and deletes those backlog rows in one transaction. Nothing
  is skipped, whenever it commits; a crash loses nothing and captures nothing twice.
- One capture at a time. Capture takes a transaction-level advisory lock, so captures on several hosts follow each
  other: deliveries are numbered (seq) in the order of the backlog, and what one host captured is gone from the
  backlog when the next one reads it. Without it, two hosts would read the same batch, wait on each other's row
  locks (or deadlock, deleting them in different orders) and render it twice for nothing. (The unique
  (hook, event_id) would refuse a second copy anyway.)
- Order per message. The events of one message are state moves, and moves of one message serialize on its row
  lock (transitions.move updates the row before it logs the move): the later move logs its event, and gets its
  backlog id, only after the earlier one committed. A capture that sees the later event therefore sees the earlier
  one too, with a lower backlog id: it was captured before or is captured first in the same batch, so its delivery
  has the lower seq, and due() hands a delivery out only when no earlier one of its subject is pending.
- Claims. due() claims what it returns (FOR UPDATE SKIP LOCKED, this host's name in `node` and a lease in
  `lease_until`): two hosts asking at once never get the same delivery. A delivery another host holds is still
  pending, so it keeps blocking the later ones of its subject. The outcome (mark_done/retry/failed) ends the lease;
  a host that dies mid-POST leaves its claims to any other host once their lease has run out, and this host takes
  back its own at once (after a restart, or when recording an outcome failed: the worker's in-flight set, `skip`,
  is what it is POSTing right now). A retry or a give-up is recorded only by the host that holds the delivery; a
  2xx is recorded by whoever got it (a late POST of a host whose lease ran out may then repeat the event, with the
  same event id: receivers deduplicate on it).
- The lease is LEASE: longer than the longest POST a webhook may be configured to take (config/webhooks.py caps its
  timeout at 60 s) with room to record the outcome, so a live host's claim does not run out mid-try. Lease times
  come from the `now` of each host's clock: the hosts' clocks must agree to well within a lease (NTP).
- A backlog row whose event is gone (retention deleted it before it was captured) is dropped without a delivery.
- Every host must configure the same webhooks: the host that captures an event decides which webhooks get it, and
  drop_unknown() on any host drops the pending deliveries of webhooks that host does not know.
"""

from __future__ import annotations

from typing import Callable, Sequence

import psycopg
from psycopg.rows import dict_row

from ..records import STATE_EVENTS, Delivery, HookSpec, RegisteredHook, Render, SourceEvent
from .queue import Store

# Backlog rows captured per transaction: bounds how long one capture holds the capture lock.
CAPTURE_BATCH = 500
# Seconds a delivery handed out by due() stays this host's: the POST's timeout (at most 60 s) and the commit of its
# outcome fit in it with room to spare.
LEASE = 120.0
# pg_advisory_xact_lock(int4, int4): the first key names what is locked (ASCII "wh"; limits.py uses "rl"), the
# second is the capture (the only webhook lock).
LOCK_CLASS = 0x7768
CAPTURE_LOCK = 1
# The registrations of one app (ASCII "rw"; the second key is hashtext(app)): its count of webhooks holds until commit.
REGISTER_LOCK_CLASS = 0x7277

_INSERT = ("INSERT INTO webhook_deliveries (hook, event_id, event_type, subject, body, state, queued_at, "
           "next_attempt_at) VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s) ON CONFLICT (hook, event_id) DO NOTHING")

# The deliveries of one webhook that are due, not held by another host, and first of their subject among the
# pending ones (an earlier one another host holds, or one waiting for its retry, blocks the later ones), locked;
# then claimed for this host.
_CLAIM = """
    WITH due AS MATERIALIZED (
        SELECT d.seq FROM webhook_deliveries d
        WHERE d.hook = %(hook)s AND d.state = 'pending' AND d.next_attempt_at <= %(now)s
          AND (d.lease_until IS NULL OR d.lease_until <= %(now)s OR d.node = %(node)s)
          AND d.seq <> ALL(%(skip)s)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.hook = d.hook AND e.subject = d.subject
                          AND e.state = 'pending' AND e.seq < d.seq)
        ORDER BY d.next_attempt_at, d.seq
        LIMIT %(limit)s
        FOR UPDATE OF d SKIP LOCKED)
    UPDATE webhook_deliveries w SET node = %(node)s, lease_until = %(until)s FROM due WHERE w.seq = due.seq
    RETURNING w.*
"""


class WebhookStore:
    """store.WebhookStore on PostgreSQL, in the database of `store`, as host store.node."""

    def __init__(self, store: Store, *, lease: float = LEASE):
        self.db = store.db
        self.node = store.node
        self.lease = lease

    async def behind(self) -> bool:
        """True if the backlog holds committed events not yet captured. Read-only."""
        async def work(conn):
            return (await _one(conn, "SELECT EXISTS (SELECT 1 FROM webhook_backlog) AS behind"))["behind"]
        return await self.db.read(work)

    async def capture(self, hooks: Callable[[], Sequence[HookSpec]], render: Render, now: float) -> tuple[int, bool]:
        """Turn the oldest batch of the backlog into delivery rows and delete it, atomically, under the capture
        lock (a capture on another host waits for this one's commit). `hooks` is called inside the transaction.
        Returns (deliveries created, more left)."""
        return await self.db.write(lambda conn: _capture(conn, hooks, render, now))

    async def due(self, hook: str, now: float, limit: int, skip: set[int]) -> list[Delivery]:
        """Pending deliveries of `hook` that are due and not behind an earlier pending one of the same subject,
        claimed for this host until now + lease. `skip`: this host's deliveries in flight (held already)."""
        async def work(conn):
            rows = await _all(conn, _CLAIM, {"hook": hook, "now": now, "node": self.node, "skip": sorted(skip),
                                             "limit": limit, "until": now + self.lease})
            rows.sort(key=lambda r: (r["next_attempt_at"], r["seq"]))
            return [_delivery(r) for r in rows]
        if limit <= 0:
            return []
        return await self.db.write(work)

    async def next_due_at(self, hook: str) -> float | None:
        """When a pending delivery of `hook` may next be due here: its next try, or the end of the lease another
        host holds it under."""
        async def work(conn):
            row = await _one(conn, "SELECT min(CASE WHEN node IS DISTINCT FROM %s THEN greatest(next_attempt_at, "
                                   "lease_until) ELSE next_attempt_at END) AS at FROM webhook_deliveries "
                                   "WHERE hook = %s AND state = 'pending'", (self.node, hook))
            return row["at"]
        return await self.db.read(work)

    async def mark_done(self, seq: int, now: float) -> None:
        """The receiver acknowledged it: recorded whoever holds the delivery now (its next POST would repeat it)."""
        await self.db.write(lambda conn: conn.execute(
            "UPDATE webhook_deliveries SET state = 'done', attempts = attempts + 1, finished_at = %s, "
            "last_error = NULL, node = %s, lease_until = NULL WHERE seq = %s AND state = 'pending'",
            (now, self.node, seq)))

    async def mark_retry(self, seq: int, next_attempt_at: float, error: str) -> None:
        """Recorded if this host still holds the delivery (another may have taken it back after the lease)."""
        await self.db.write(lambda conn: conn.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = %s, last_error = %s, "
            "lease_until = NULL WHERE seq = %s AND state = 'pending' AND node = %s",
            (next_attempt_at, error, seq, self.node)))

    async def mark_failed(self, seq: int, now: float, error: str) -> None:
        """Recorded if this host still holds the delivery, as mark_retry."""
        await self.db.write(lambda conn: conn.execute(
            "UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, finished_at = %s, "
            "last_error = %s, lease_until = NULL WHERE seq = %s AND state = 'pending' AND node = %s",
            (now, error, seq, self.node)))

    async def drop_unknown(self, keys: Callable[[], Sequence[str]]) -> dict[str, int]:
        """Delete the pending deliveries of webhooks no longer configured. Returns {hook key: rows dropped}."""
        async def work(conn):
            rows = await _all(conn, "DELETE FROM webhook_deliveries WHERE state = 'pending' AND "
                                    "hook <> ALL(%s) RETURNING hook", (list(keys()),))
            counts: dict[str, int] = {}
            for row in rows:
                counts[row["hook"]] = counts.get(row["hook"], 0) + 1
            return counts
        return await self.db.write(work)

    async def pending_count(self, hook: str | None = None) -> int:
        async def work(conn):
            row = await _one(conn, "SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'pending'"
                                   + (" AND hook = %s" if hook is not None else ""),
                             (hook,) if hook is not None else ())
            return row["n"]
        return await self.db.read(work)

    async def deliveries(self, hook: str | None = None) -> list[dict]:
        """Every row, oldest first (inspection and tests); node and lease_until say who holds a pending one."""
        return await self.db.read(lambda conn: _all(
            conn, "SELECT * FROM webhook_deliveries" + (" WHERE hook = %s" if hook else "") + " ORDER BY seq",
            (hook,) if hook else ()))

    async def unsettled(self, limit: int) -> list[dict]:
        return await self.db.read(lambda conn: _all(
            conn, _UNSETTLED, (limit,)))

    async def prune(self, done_before: float, failed_before: float) -> int:
        async def work(conn):
            cursor = await conn.execute("DELETE FROM webhook_deliveries WHERE (state = 'done' AND finished_at < %s) "
                                        "OR (state = 'failed' AND finished_at < %s)", (done_before, failed_before))
            return cursor.rowcount
        return await self.db.write(work)


    # ---- webhooks registered through an API (POST /asg/webhooks) ------------------------------------------------
    async def register(self, hook: RegisteredHook, *, most: int) -> bool:
        """Insert, or replace the app's webhook of that id; refused (False) past `most` webhooks of the app. The
        app's registrations take a transaction lock first, so two at once cannot both pass the count."""
        async def work(conn):
            await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (REGISTER_LOCK_CLASS, hook.app))
            cursor = await conn.execute(_REGISTER, {**vars(hook), "most": most})
            return cursor.rowcount == 1
        return await self.db.write(work)

    async def registered(self, app: str | None = None) -> list[RegisteredHook]:
        rows = await self.db.read(lambda conn: _all(
            conn, "SELECT app, id, url, event, created_at FROM asg_webhooks WHERE %(app)s::text IS NULL "
                  "OR app = %(app)s ORDER BY created_at, app, id", {"app": app}))
        return [RegisteredHook(**row) for row in rows]

    async def unregister(self, app: str, hook_id: str) -> bool:
        async def work(conn):
            cursor = await conn.execute("DELETE FROM asg_webhooks WHERE app = %s AND id = %s", (app, hook_id))
            return cursor.rowcount == 1
        return await self.db.write(work)


# A new webhook only while the app has fewer than `most`; the app's webhook of that id is replaced whatever the count
# (it keeps its place: created_at stays).
_REGISTER = """
    INSERT INTO asg_webhooks (app, id, url, event, created_at)
    SELECT %(app)s, %(id)s, %(url)s, %(event)s, %(created_at)s WHERE
        EXISTS (SELECT 1 FROM asg_webhooks WHERE app = %(app)s AND id = %(id)s)
        OR (SELECT count(*) FROM asg_webhooks WHERE app = %(app)s) < %(most)s
    ON CONFLICT (app, id) DO UPDATE SET url = excluded.url, event = excluded.event
"""


# ---- SQL, run inside a transaction of Database.write ------------------------------------------------------------
async def _one(conn: psycopg.AsyncConnection, query: str, params: Sequence | dict = ()) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchone()


async def _all(conn: psycopg.AsyncConnection, query: str, params: Sequence | dict = ()) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()


def _delivery(row: dict) -> Delivery:
    return Delivery(seq=row["seq"], hook=row["hook"], event_id=row["event_id"], event_type=row["event_type"],
                    subject=row["subject"], body=row["body"], attempts=row["attempts"], queued_at=row["queued_at"])


async def _capture(conn: psycopg.AsyncConnection, hooks: Callable[[], Sequence[HookSpec]], render: Render,
                   now: float) -> tuple[int, bool]:
    await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, CAPTURE_LOCK))
    # The statements from here on see every capture before this one committed (READ COMMITTED: a snapshot per
    # statement, taken after the lock was granted).
    taken = await _all(conn, "DELETE FROM webhook_backlog WHERE id IN (SELECT id FROM webhook_backlog ORDER BY id "
                             "LIMIT %s) RETURNING id, source, ref", (CAPTURE_BATCH,))
    taken.sort(key=lambda r: r["id"])
    specs = list(hooks())
    rows = []
    for event in await _read_events(conn, taken):
        for hook in specs:
            if hook.wants(event):
                event_id, body = render(event, hook)
                rows.append((hook.key, event_id, event.type, event.subject, body, now, now))
    created = 0
    if rows:
        async with conn.cursor() as cursor:
            await cursor.executemany(_INSERT, rows)     # in order (seq follows the backlog), pipelined
            created = cursor.rowcount                   # the rows inserted by all of them together
    more = await _one(conn, "SELECT EXISTS (SELECT 1 FROM webhook_backlog) AS more")
    return created, more["more"]


async def _read_events(conn: psycopg.AsyncConnection, taken: list[dict]) -> list[SourceEvent]:
    """The events the backlog rows `taken` list, in their order; those whose log row is gone are left out."""
    refs = {"message_events": [], "inbox": []}
    for row in taken:
        refs[row["source"]].append(row["ref"])
    moves = {r["event_rowid"]: r for r in await _all(
        conn, "SELECT e.rowid AS event_rowid, e.message_id AS event_message, e.at AS event_at, e.to_state, m.* "
              "FROM message_events e LEFT JOIN messages m ON m.id = e.message_id WHERE e.rowid = ANY(%s)",
        (refs["message_events"],))} if refs["message_events"] else {}
    inbox = {r["seq"]: r for r in await _all(conn, "SELECT * FROM inbox WHERE seq = ANY(%s)",
                                             (refs["inbox"],))} if refs["inbox"] else {}
    events = []
    for row in taken:
        if row["source"] == "message_events" and row["ref"] in moves:
            move = moves[row["ref"]]
            events.append(SourceEvent(STATE_EVENTS[move["to_state"]], f"m{move['event_rowid']}",
                                      move["event_message"], move["event_at"], move))
        elif row["source"] == "inbox" and row["ref"] in inbox:
            received = inbox[row["ref"]]
            events.append(SourceEvent("sms:received", f"i{received['seq']}", received["id"],
                                      received["received_at"], received))
    return events


# The admin page's view of deliveries not done: what and when, never the body (it names the message's numbers).
_UNSETTLED = ("SELECT seq, hook, event_type, state, attempts, queued_at, next_attempt_at, finished_at, last_error "
              "FROM webhook_deliveries WHERE state != 'done' ORDER BY seq DESC LIMIT %s")
