"""Leased hits of the large rate-limit buckets (store/postgres/leases.py) against a real PostgreSQL: several hosts
taking hits at once never pass the cap, unused hits go back, a refused request's hit is used by the next, a lease
lives in one slot, near the cap a lease is one hit, and a refusal says when there is room as modemd_hit does."""

from __future__ import annotations

import asyncio
import math

import pytest

psycopg = pytest.importorskip("psycopg")

from modemd.store import Limit, RateLimited                                  # noqa: E402
from modemd.store.postgres import Database                                   # noqa: E402
from modemd.store.postgres import leases as leases_module                    # noqa: E402
from modemd.store.postgres.leases import FIRST_BLOCK, Leases, split         # noqa: E402
from modemd.store.postgres.limits import EXACT_UP_TO, hit_all, slot_width   # noqa: E402

NOW = 1_800_000_000.0
LARGE = Limit("otp-country:DE", 1000, 86400.0)


async def counted(db, bucket):
    async def total(conn):
        return (await (await conn.execute("SELECT coalesce(sum(n), 0) FROM rate_slots WHERE bucket = %s",
                                          (bucket,))).fetchone())[0]
    return await db.read(total)


async def gone_back_to(db, bucket, n, timeout=10.0):
    """Wait until the bucket's count is `n` (the sweeper runs every TTL / 2); fail after `timeout` s."""
    for _ in range(int(timeout / 0.05)):
        if await counted(db, bucket) == n:
            return
        await asyncio.sleep(0.05)
    assert await counted(db, bucket) == n


@pytest.fixture
def short_ttl(monkeypatch):
    monkeypatch.setattr(leases_module, "TTL", 0.2)


def test_only_the_slot_counted_limits_are_leased():
    small = Limit("otp-send:+4915112345678", EXACT_UP_TO, 600.0)
    assert split([small, LARGE]) == ([LARGE], [small])


async def test_hosts_taking_hits_at_once_never_pass_the_cap_and_the_unused_go_back(pg, pg_db):
    limit = Limit("otp-token:shop", EXACT_UP_TO + 150, 3600.0)
    databases = [Database(pg.url, pg.password) for _ in range(3)]
    for database in databases:
        await database.open()
    hosts = [Leases(database) for database in databases]
    try:
        async def request(host):
            try:
                await host.take([limit], NOW)
                return True
            except RateLimited:
                return False
        # Each host has requests enough to take the whole cap: none stops asking while it holds leased hits.
        outcomes = await asyncio.gather(*(request(hosts[i % 3]) for i in range(3 * limit.limit)))
        assert sum(outcomes) <= limit.limit
        assert await counted(pg_db, limit.bucket) <= limit.limit            # leased, used or not: within the cap
        for host in hosts:
            await host.close()
        assert await counted(pg_db, limit.bucket) == sum(outcomes)          # what was not used went back
        # Refused early only by what other hosts held unused: near the cap a lease is one hit, so few.
        assert sum(outcomes) >= limit.limit - 10
    finally:
        for database in databases:
            await database.close()


async def test_unused_hits_go_back_when_the_lease_ends(pg_db, short_ttl):
    leases = Leases(pg_db)
    await leases.take([LARGE], NOW)
    assert await counted(pg_db, LARGE.bucket) == FIRST_BLOCK                 # a block is counted at once
    await gone_back_to(pg_db, LARGE.bucket, 1)                               # the sweeper gave back the rest
    await leases.close()


async def test_a_hit_given_back_is_taken_by_the_next_request(pg_db):
    leases = Leases(pg_db)
    taken = await leases.take([LARGE], NOW)
    leases.give_back(taken)
    for _ in range(FIRST_BLOCK):
        await leases.take([LARGE], NOW)
    assert await counted(pg_db, LARGE.bucket) == FIRST_BLOCK                 # no second lease was needed
    await leases.close()
    assert await counted(pg_db, LARGE.bucket) == FIRST_BLOCK


async def test_a_hit_given_back_after_its_lease_ended_goes_back_to_the_database(pg_db, short_ttl):
    leases = Leases(pg_db)
    taken = await leases.take([LARGE], NOW)
    await gone_back_to(pg_db, LARGE.bucket, 1)                                 # the lease ends, 7 go back
    leases.give_back(taken)                                                    # the request was refused after all
    await leases.close()
    assert await counted(pg_db, LARGE.bucket) == 0


async def test_a_lease_serves_one_slot_the_next_slot_has_its_own(pg_db):
    leases = Leases(pg_db)
    width = slot_width(LARGE)
    first = (math.floor(NOW / width) + 1) * width                             # a slot's first second
    await leases.take([LARGE], first + width - 1)
    await leases.take([LARGE], first + width)                                 # the next slot: a new lease
    async def slots(conn):
        return await (await conn.execute("SELECT slot, n FROM rate_slots WHERE bucket = %s ORDER BY slot",
                                         (LARGE.bucket,))).fetchall()
    # The first lease's unused hits went back with the statement that took the second, which asked for what the
    # first one used.
    assert await pg_db.read(slots) == [(round(first / width), 1), (round(first / width) + 1, 1)]
    await leases.close()
    assert [n for _, n in await pg_db.read(slots)] == [1, 1]


async def test_near_the_cap_a_lease_is_a_single_hit(pg_db):
    limit = Limit("otp-token:shop", EXACT_UP_TO + 10, 3600.0)
    for _ in range(limit.limit - 3):
        await pg_db.write(lambda conn: hit_all(conn, [limit], NOW))
    leases = Leases(pg_db)
    await leases.take([limit], NOW)
    assert await counted(pg_db, limit.bucket) == limit.limit - 2                # room 3: a quarter, at least 1
    await leases.take([limit], NOW)
    await leases.take([limit], NOW)
    with pytest.raises(RateLimited):
        await leases.take([limit], NOW)
    await leases.close()
    assert await counted(pg_db, limit.bucket) == limit.limit


async def test_a_refusal_keeps_no_hit_and_says_when_as_the_transaction_path_does(pg_db):
    limit = Limit("otp-token:shop", EXACT_UP_TO + 1, 3600.0)
    other = Limit("otp-country:FR", 1000, 86400.0)
    for i in range(limit.limit):
        await pg_db.write(lambda conn: hit_all(conn, [limit], NOW + i))
    with pytest.raises(RateLimited) as by_transaction:
        await pg_db.write(lambda conn: hit_all(conn, [limit], NOW + 200))
    leases = Leases(pg_db)
    with pytest.raises(RateLimited) as by_lease:
        await leases.take([other, limit], NOW + 200)
    assert by_lease.value.bucket == limit.bucket
    assert by_lease.value.retry_after == pytest.approx(by_transaction.value.retry_after)
    await leases.close()
    assert await counted(pg_db, other.bucket) == 0                              # the other limit's hit went back


async def test_hits_a_failed_lease_could_not_give_back_go_back_once_the_database_answers(pg_db, monkeypatch):
    from modemd.domain.errors import StorageError
    leases = Leases(pg_db)
    width = slot_width(LARGE)
    first = (math.floor(NOW / width) + 1) * width
    await leases.take([LARGE], first)                              # 8 counted, 1 used
    real = pg_db.write_one

    async def away(work):
        raise StorageError("database unavailable")
    monkeypatch.setattr(pg_db, "write_one", away)
    with pytest.raises(StorageError):
        await leases.take([LARGE], first + width)                  # the next slot: a new lease, which fails
    monkeypatch.setattr(pg_db, "write_one", real)
    await gone_back_to(pg_db, LARGE.bucket, 1)                     # the old lease's 7 went back all the same
    await leases.close()
