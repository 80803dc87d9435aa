"""Rate limits on PostgreSQL, global across hosts: checked and counted in the transaction that accepts what they
limit (issue 13: "every rate limit and cap is global, enforced in the same transaction that accepts the request").

There is no in-memory copy here, as the SQLite store keeps: another host writes to the same tables. Two hosts
checking one bucket at once must not both find room for its last hit: each transaction first takes a
transaction-level advisory lock per bucket, in sorted order (two requests that share two buckets cannot deadlock),
then counts. Under READ COMMITTED a statement sees what was committed before it began, so the second transaction,
granted the lock when the first commits, counts the first one's row. The locks end with the transaction.

How a bucket is counted depends on its limit:
- Small limits (at most EXACT_UP_TO: a number's few codes, its resend gap) count their hits exactly: one
  rate_events row per hit, and the limit-th newest inside the window says whether one more fits and when the
  oldest leaves (an index walk of at most EXACT_UP_TO steps).
- Large ones (an app's 1,000 an hour, a country's 10,000 a day) count in time slots: rate_slots holds hits per
  window / SLOTS seconds, and a check adds up the slots that overlap the window (SLOTS + 1 rows at most) instead of
  walking thousands of hits on every request. A slot that straddles the window's start counts whole, so the cap
  is never exceeded; it may refuse at most one slot's hits (1/SLOTS of the window) early, and Retry-After is
  rounded up to the end of a slot.
"""

from __future__ import annotations

import math
from typing import Sequence

import psycopg

from ..errors import RateLimited
from ..records import Limit

# pg_advisory_xact_lock(int4, int4): the first key names what is locked (ASCII "rl"), so a bucket's lock never
# meets another use of advisory locks; the second is the bucket's hash (a collision only serializes two buckets).
LOCK_CLASS = 0x726C
EXACT_UP_TO = 100           # limits up to this many hits are counted hit by hit
SLOTS = 100                 # a larger limit's window in this many slots


def exact(limit: Limit) -> bool:
    return limit.limit <= EXACT_UP_TO


def slot_width(limit: Limit) -> float:
    return limit.window / SLOTS


async def table_retry_after(conn: psycopg.AsyncConnection, limit: Limit, now: float) -> float:
    """0 if one more hit fits in the limit's sliding window, else seconds until enough hits leave it."""
    if exact(limit):
        cursor = await conn.execute("SELECT at FROM rate_events WHERE bucket = %s AND at > %s ORDER BY at DESC "
                                    "LIMIT 1 OFFSET %s", (limit.bucket, now - limit.window, limit.limit - 1))
        row = await cursor.fetchone()
        return 0.0 if row is None else row[0] + limit.window - now
    width = slot_width(limit)
    first = math.floor((now - limit.window) / width)        # the slot the window starts in, counted whole
    cursor = await conn.execute("SELECT slot, n FROM rate_slots WHERE bucket = %s AND width = %s AND slot >= %s "
                                "ORDER BY slot", (limit.bucket, width, first))
    slots = await cursor.fetchall()
    total = sum(n for _, n in slots)
    if total < limit.limit:
        return 0.0
    for slot, n in slots:               # the oldest slots leave first: when enough of them have, one more fits
        total -= n
        if total < limit.limit:
            return max((slot + 1) * width + limit.window - now, 0.001)
    return limit.window                 # not reached: the last slot alone is below the limit once it is gone


async def hit_all(conn: psycopg.AsyncConnection, limits: Sequence[Limit], now: float) -> None:
    """Check every limit, then count one hit on each, or raise RateLimited having counted none. Runs inside the
    caller's transaction (Database.write or batched), which holds the buckets' locks until it ends. One round trip:
    the database function modemd_hit (schema version 4) does what hit_all_reference does, statement by statement
    here; a request checks five or six limits, and their fifteen round trips were most of an OTP send's time."""
    await raise_if_refused(await send_hits(conn, limits, now))


async def send_hits(conn: psycopg.AsyncConnection, limits: Sequence[Limit], now: float):
    """hit_all's statement, sent without waiting for its answer (in pipeline mode it goes out with the statements
    after it): pass what it returns to raise_if_refused before relying on the limits. A refusal has counted nothing;
    the caller's statements sent after it must be rolled back with it (a savepoint does it: Database.batched)."""
    if not limits:
        return None
    return await conn.execute("SELECT refused, retry_after FROM modemd_hit(%s, %s, %s, %s)",
                              (*limit_arrays(limits), float(now)))


def limit_arrays(limits: Sequence[Limit]) -> tuple[list[str], list[int], list[float]]:
    """The limits as modemd_hit's three arrays (buckets, limits, windows). One type per array: a config's window
    may be an int (600) beside a float (3600.0), and a mixed list cannot be sent as one array."""
    return [str(l.bucket) for l in limits], [int(l.limit) for l in limits], [float(l.window) for l in limits]


async def raise_if_refused(sent) -> None:
    if sent is None:
        return
    row = await sent.fetchone()
    if row is not None:
        raise RateLimited(row[0], row[1])


async def hit_all_reference(conn: psycopg.AsyncConnection, limits: Sequence[Limit], now: float) -> None:
    """hit_all in Python, statement by statement: the reference modemd_hit is tested against."""
    if not limits:
        return
    for bucket in sorted({limit.bucket for limit in limits}):
        await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, bucket))
    for limit in limits:
        wait = await table_retry_after(conn, limit, now)
        if wait > 0:
            raise RateLimited(limit.bucket, wait)
    async with conn.cursor() as cursor:
        rows = [(limit.bucket, now) for limit in limits if exact(limit)]
        if rows:
            await cursor.executemany("INSERT INTO rate_events (bucket, at) VALUES (%s, %s)", rows)
        slots = [(limit.bucket, slot_width(limit), math.floor(now / slot_width(limit)))
                 for limit in limits if not exact(limit)]
        if slots:
            await cursor.executemany("INSERT INTO rate_slots (bucket, width, slot, n) VALUES (%s, %s, %s, 1) "
                                     "ON CONFLICT (bucket, width, slot) DO UPDATE SET n = rate_slots.n + 1", slots)


async def prune(conn: psycopg.AsyncConnection, before: float) -> None:
    """Drop the hits and slots that ended before `before`."""
    await conn.execute("DELETE FROM rate_events WHERE at < %s", (before,))
    await conn.execute("DELETE FROM rate_slots WHERE (slot + 1) * width < %s", (before,))
