"""Putting messages into the PostgreSQL queue: the checks (idempotency replays, rate limits, the queue's bound) and
the inserts of one request in one round trip, and the statements other requests send with theirs (an OTP's SMS:
otp.py). A new message NOTIFYs every host when its transaction commits (queue.py LISTENs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import psycopg

from ...domain.sms import OutboundSms
from ..errors import IdempotencyMismatch, QueueFull
from ..records import (IDEMPOTENCY_WINDOW, MESSAGE_COLUMNS, Enqueued, EnqueuedBatch, Limit, outbound_from_row,
                       outbound_values)
from .limits import LOCK_CLASS, raise_if_refused, send_hits
from .queue_reads import batch_rows, fetch_one
from .steps import Statement, as_one
from .transitions import EVENTS_COLUMNS, event_values

# The channel a new message is announced on.
CHANNEL = "modemd_queue"
_COLUMNS = MESSAGE_COLUMNS


async def insert_message(conn: psycopg.AsyncConnection, sms: OutboundSms, bound: int | None = None,
                         limits: Sequence[Limit] = (), along: Sequence[tuple[str, tuple]] = ()) -> Enqueued:
    """insert_batch of one message."""
    queued = await insert_batch(conn, [sms], bound, [limits], along)
    return Enqueued(queued.messages[0], queued.created)


async def insert_batch(conn: psycopg.AsyncConnection, batch: Sequence[OutboundSms], bound: int | None = None,
                       limits: Sequence[Sequence[Limit]] = (), along: Sequence[tuple[str, tuple]] = ()
                       ) -> EnqueuedBatch:
    """Queue every message of `batch` unless a replay of an accepted Idempotency-Key (batch[0]'s: counted against
    nothing), `limits[i]` refuse batch[i] (RateLimited) or `bound` has no room for them all (QueueFull). `along`:
    statements of the caller's to send with the inserts (an OTP's verification row).

    The checks and the inserts go out in one round trip (pipeline mode), the checks first, and are read after: a
    refusal raises having written rows that the request's savepoint (Database.batched) or transaction then takes
    back, the rate-limit hits and the NOTIFY with them. Each message's limits are one modemd_hit, run in turn: each
    sees the hits of the ones before it in this transaction, so a bucket every message counts against (the app's)
    is checked as if the messages had come one by one."""
    first = batch[0]
    if first.idempotency_key:
        existing = await _by_idempotency_key(conn, first.idempotency_key, first.created_at)
        if existing and existing.request_digest != first.request_digest:
            raise IdempotencyMismatch(existing)
        if existing:
            return EnqueuedBatch(await _batch_of(conn, existing), created=False)
    async with conn.pipeline():
        if len(limits) > 1:
            await _lock_buckets(conn, limits)
        hits = [await send_hits(conn, each, first.created_at) for each in limits]
        queued = await conn.execute(QUEUED) if bound is not None else None
        for statement, params in along:
            await conn.execute(statement, params)
        for statement, params in [statement for sms in batch for statement in message_statements(sms)] + [NOTIFY]:
            await conn.execute(statement, params)
        for sent in hits:
            await raise_if_refused(sent)
        if queued is not None and (await queued.fetchone())[0] + len(batch) > bound:
            raise QueueFull(f"{bound} messages may wait; {len(batch)} more do not fit")
    return EnqueuedBatch(list(batch), created=True)


async def _lock_buckets(conn: psycopg.AsyncConnection, limits: Sequence[Sequence[Limit]]) -> None:
    """Every bucket of a batch's messages locked at once, in the order and with the keys modemd_hit locks them
    (sorted by name; limits.LOCK_CLASS): its calls per message then take no lock another transaction can hold in
    between, so two batches that name the same numbers in another order do not deadlock."""
    buckets = list({limit.bucket for each in limits for limit in each})
    # Sorted by the database, as modemd_hit sorts: its collation, not Python's code point order, decides.
    await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(b)) FROM (SELECT DISTINCT b FROM "
                       "unnest(%s::text[]) AS b ORDER BY b) AS sorted", (LOCK_CLASS, buckets))


@dataclass(frozen=True)
class Table:
    """A table's columns that a new row gives, and their types: many rows go in as one statement of constant text
    (Table.insert_many: an array per column, unnest), which psycopg converts once and the server prepares, where
    multi-row VALUES made each batch size a new statement for both to parse."""
    name: str
    columns: str                # "id, kind, ..."
    types: tuple[str, ...]      # PostgreSQL's, one per column

    def insert_one(self) -> str:
        return f"INSERT INTO {self.name} ({self.columns}) VALUES ({', '.join(['%s'] * len(self.types))})"

    def insert_many(self) -> str:
        arrays = ", ".join(f"%s::{kind}[]" for kind in self.types)
        return f"INSERT INTO {self.name} ({self.columns}) SELECT * FROM unnest({arrays})"


MESSAGES = Table("messages", _COLUMNS, (
    "text", "text", "text", "text", "integer", "integer", "text", "integer", "double precision", "double precision",
    "double precision", "double precision", "double precision", "double precision", "text", "text", "text", "text",
    "integer", "integer", "text", "text", "text", "text", "text"))
EVENTS = Table("message_events", EVENTS_COLUMNS, ("text", "double precision", "text", "text", "text"))


def message_rows(sms: OutboundSms) -> list[tuple[Table, tuple]]:
    """What queues `sms` once it is accepted, as rows (the table, the values): its own and its first event's (then
    NOTIFY, once per transaction)."""
    return [(MESSAGES, outbound_values(sms)), (EVENTS, event_values(sms.id, sms.created_at, None, sms.state,
                                                                      "accepted"))]


def message_statements(sms: OutboundSms) -> list[Statement]:
    """message_rows as INSERT statements."""
    return [(table.insert_one(), values) for table, values in message_rows(sms)]


def inserted(parts: list[tuple[tuple[Table, tuple], ...]]) -> Statement:
    """A steps.Merged form: every part's rows (message_rows' shape), one INSERT per table in the order the tables
    first appear, as one statement that ends with the NOTIFY. It answers no part (NULL position)."""
    tables: dict[Table, list[tuple]] = {}
    for rows in parts:
        for table, values in rows:
            tables.setdefault(table, []).append(values)
    inserts = [(table.insert_many(), tuple(list(column) for column in zip(*rows))) for table, rows in tables.items()]
    return as_one([*inserts, ("SELECT NULL::integer, pg_notify(%s, '')", (CHANNEL,))])


# Wakes every host's outbox once the transaction commits: NOTIFY as a function, so it can end a statement of several
# writes (steps.as_one).
NOTIFY = ("SELECT pg_notify(%s, '')", (CHANNEL,))


# Messages waiting to be sent, from the counters (the shards of message_counts): a few rows, not a scan.
QUEUED = "SELECT coalesce(sum(n), 0) FROM message_counts WHERE state = 'queued'"



async def _by_idempotency_key(conn: psycopg.AsyncConnection, key: str, now: float) -> OutboundSms | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM messages WHERE idempotency_key = %s", (key,))
    if row is None:
        return None
    if row["created_at"] >= now - IDEMPOTENCY_WINDOW:
        return outbound_from_row(row)
    await conn.execute("UPDATE messages SET idempotency_key = NULL WHERE id = %s", (row["id"],))
    return None


async def _batch_of(conn: psycopg.AsyncConnection, first: OutboundSms) -> list[OutboundSms]:
    """The messages the request that queued `first` queued: its batch, or `first` alone."""
    return [first] if first.batch_id is None else await batch_rows(conn, first.batch_id)
