"""Rate limits on the PostgreSQL store (store/postgres/limits.py) against a real server: the same sliding-window
answers as the SQLite store, nothing counted on a refusal, and global across connections (several hosts): of many
concurrent requests on one bucket, exactly `limit` get through."""

from __future__ import annotations

import asyncio

import pytest


psycopg = pytest.importorskip("psycopg")

from modemd.store.postgres import Database as PgDatabase                    # noqa: E402
from modemd.store import Limit, RateLimited                              # noqa: E402
from modemd.store.postgres.limits import hit_all, table_retry_after     # noqa: E402

NOW = 1_800_000_000.0


async def hit(pg_db, limits, now=NOW):
    await pg_db.write(lambda conn: hit_all(conn, limits, now))


async def rows(pg_db, bucket):
    async def count(conn):
        return (await (await conn.execute("SELECT count(*) FROM rate_events WHERE bucket = %s",
                                          (bucket,))).fetchone())[0]
    return await pg_db.read(count)


async def test_hits_count_until_the_limit_then_the_oldest_says_when(pg_db):
    limit = Limit("otp-send:+4915112345678", 3, 600.0)
    for i in range(3):
        await hit(pg_db, [limit], NOW + i)
    with pytest.raises(RateLimited) as refused:
        await hit(pg_db, [limit], NOW + 10)
    assert refused.value.retry_after == pytest.approx(NOW + 600 - (NOW + 10))   # the first hit leaves first
    assert "+49" not in str(refused.value)                                      # a log line may carry it
    await hit(pg_db, [limit], NOW + 600.5)                                         # the first hit has left the window
    assert await rows(pg_db, limit.bucket) == 4


async def test_a_refusal_counts_nothing_on_any_bucket(pg_db):
    roomy, full = Limit("app-hour:shop", 100, 3600.0), Limit("sms-number:+4915112345678", 1, 3600.0)
    await hit(pg_db, [full])
    with pytest.raises(RateLimited):
        await hit(pg_db, [roomy, full])
    assert await rows(pg_db, roomy.bucket) == 0 and await rows(pg_db, full.bucket) == 1


async def test_retry_after_reads_the_table(pg_db):
    limit = Limit("app-day:shop", 2, 86400.0)
    await hit(pg_db, [limit], NOW)
    assert await pg_db.read(lambda conn: table_retry_after(conn, limit, NOW + 1)) == 0.0
    await hit(pg_db, [limit], NOW + 5)
    assert await pg_db.read(lambda conn: table_retry_after(conn, limit, NOW + 6)) == pytest.approx(86400 - 6)


async def test_concurrent_requests_on_one_bucket_let_exactly_the_limit_through(pg, pg_db):
    """As several hosts would: separate connections, all at once, on one bucket with room for 3."""
    limit = Limit("otp-country:DE", 3, 86400.0)
    others = [PgDatabase(pg.url, pg.password) for _ in range(4)]       # four hosts' pools
    for other in others:
        await other.open()
    try:
        tries = [hit(database, [limit]) for database in [pg_db, *others] for _ in range(5)]
        outcomes = await asyncio.gather(*tries, return_exceptions=True)
    finally:
        for other in others:
            await other.close()
    assert [o for o in outcomes if not isinstance(o, RateLimited)] == [None] * 3
    assert await rows(pg_db, limit.bucket) == 3


async def test_requests_sharing_two_buckets_in_either_order_do_not_deadlock(pg_db):
    a, b = Limit("app-hour:shop", 1000, 3600.0), Limit("app-day:shop", 1000, 86400.0)
    await asyncio.wait_for(asyncio.gather(*(hit(pg_db, [a, b] if i % 2 else [b, a]) for i in range(40))), 60)
    assert await rows(pg_db, a.bucket) == 40 and await rows(pg_db, b.bucket) == 40
