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
    assert await slot_hits(pg_db, a.bucket) == 40 and await slot_hits(pg_db, b.bucket) == 40    # large: in slots


async def slot_hits(pg_db, bucket):
    async def count(conn):
        return (await (await conn.execute("SELECT coalesce(sum(n), 0) FROM rate_slots WHERE bucket = %s",
                                          (bucket,))).fetchone())[0]
    return await pg_db.read(count)


async def test_a_large_limit_counts_in_slots_never_past_the_cap(pg_db):
    """10,000 a day is counted in 100 slots of 864 s, not hit by hit: the cap holds, and a slot that straddles the
    window's start counts whole (refusing at most one slot early), Retry-After says when its slot leaves."""
    from modemd.store.postgres.limits import EXACT_UP_TO
    limit = Limit("country-day:DE", EXACT_UP_TO + 50, 86400.0)
    for i in range(limit.limit):
        await hit(pg_db, [limit], NOW + i)
    with pytest.raises(RateLimited) as refused:
        await hit(pg_db, [limit], NOW + 1000)
    assert await slot_hits(pg_db, limit.bucket) == limit.limit and await rows(pg_db, limit.bucket) == 0
    slot_end = (NOW // 864 + 1) * 864                   # every hit is in the slot of NOW (or the next)
    assert 0 < refused.value.retry_after <= slot_end + 86400 + 864 - (NOW + 1000)
    await hit(pg_db, [limit], NOW + 86400 + 2 * 864)     # a day and two slots later the window has room again


async def test_concurrent_requests_on_a_large_limit_let_exactly_the_limit_through(pg, pg_db):
    from modemd.store.postgres.limits import EXACT_UP_TO
    limit = Limit("app-hour:shop", EXACT_UP_TO + 20, 3600.0)
    databases = [PgDatabase(pg.url, pg.password) for _ in range(4)]
    for database in databases:
        await database.open()
    try:
        outcomes = await asyncio.gather(*(databases[i % 4].batched(lambda conn: hit_all(conn, [limit], NOW))
                                          for i in range(limit.limit + 60)), return_exceptions=True)
    finally:
        for database in databases:
            await database.close()
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert len(outcomes) - len(refused) == limit.limit and len(refused) == 60
    assert await slot_hits(pg_db, limit.bucket) == limit.limit


async def test_the_database_function_answers_as_the_python_reference(pg_db):
    """modemd_hit (one round trip, schema version 4) against hit_all_reference (statement by statement): the same
    hits on twin buckets, small limits and large ones, get the same refusals and the same Retry-After."""
    import random
    from modemd.store.postgres.limits import hit_all_reference
    rng = random.Random(13)
    shapes = [(3, 600.0), (20, 3600.0), (150, 3600.0), (120, 86400.0)]
    now, refusals = NOW, 0
    for step in range(400):
        now += rng.choice([0.0, 1.0, 7.0, 40.0, 400.0])
        chosen = rng.sample(shapes, rng.randint(1, 3))
        answers = []
        for twin, check in (("fn", hit_all), ("py", hit_all_reference)):
            limits = [Limit(f"{twin}:{limit}:{window}", limit, window) for limit, window in chosen]
            try:
                await pg_db.write(lambda conn: check(conn, limits, now))
                answers.append(None)
            except RateLimited as refused:
                answers.append((refused.bucket.split(":", 1)[1], round(refused.retry_after, 6)))
        assert answers[0] == answers[1], (step, chosen, answers)
        refusals += answers[0] is not None
    assert 50 < refusals < 350, refusals           # both answers were compared many times, yes and no
