"""Rate limits on PostgreSQL, global across hosts: checked and counted in the transaction that accepts what they
limit (issue 13: "every rate limit and cap is global, enforced in the same transaction that accepts the request").

The rate_events rows are the truth, as in the SQLite store; there is no in-memory copy here, because another host
writes to the same table. Two hosts checking one bucket at once must not both find room for its last hit: each
transaction first takes a transaction-level advisory lock per bucket, in sorted order (two requests that share two
buckets cannot deadlock), then counts. Under READ COMMITTED a statement sees what was committed before it began,
so the second transaction, granted the lock when the first commits, counts the first one's row. The locks end
with the transaction, commit or rollback.
"""

from __future__ import annotations

from typing import Sequence

import psycopg

from ..errors import RateLimited
from ..records import Limit

# pg_advisory_xact_lock(int4, int4): the first key names what is locked (ASCII "rl"), so a bucket's lock never
# meets another use of advisory locks; the second is the bucket's hash (a collision only serializes two buckets).
LOCK_CLASS = 0x726C


async def table_retry_after(conn: psycopg.AsyncConnection, limit: Limit, now: float) -> float:
    """0 if one more hit fits in the limit's sliding window, else seconds until the oldest counted hit leaves it:
    the limit-th newest hit of the bucket in the window, found in the (bucket, at) index."""
    cursor = await conn.execute("SELECT at FROM rate_events WHERE bucket = %s AND at > %s ORDER BY at DESC "
                                "LIMIT 1 OFFSET %s", (limit.bucket, now - limit.window, limit.limit - 1))
    row = await cursor.fetchone()
    return 0.0 if row is None else row[0] + limit.window - now


async def hit_all(conn: psycopg.AsyncConnection, limits: Sequence[Limit], now: float) -> None:
    """Check every limit, then count one hit on each, or raise RateLimited having counted none. Runs inside the
    caller's transaction (Database.write), which holds the buckets' locks until it ends."""
    if not limits:
        return
    for bucket in sorted({limit.bucket for limit in limits}):
        await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, bucket))
    for limit in limits:
        wait = await table_retry_after(conn, limit, now)
        if wait > 0:
            raise RateLimited(limit.bucket, wait)
    async with conn.cursor() as cursor:
        await cursor.executemany("INSERT INTO rate_events (bucket, at) VALUES (%s, %s)",
                                 [(limit.bucket, now) for limit in limits])
