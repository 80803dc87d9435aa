"""One queue, many hosts (store/postgres/queue.py), against a real PostgreSQL: each host is its own Store (its own
pool), as two modemd processes would be. Claims never collide, a host's sends in flight are its own until its lease
runs out, then any host takes them back under the crash rule, and a message accepted on one host wakes the others."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import pytest

import kit
from modemd.domain.sms import Kind, State

pytest.importorskip("psycopg")


@asynccontextmanager
async def hosts(pg, *names: str, lease: float = 30.0):
    """A Store per host name on `pg`, every table emptied first."""
    from modemd.store.postgres.queue import Store
    stores = [Store(pg.url, pg.password, name, lease=lease) for name in names]
    for store in stores:
        await store.open()
    try:
        await kit.empty_pg(stores[0])
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_hosts_claiming_at_once_each_take_different_messages(pg):
    async with hosts(pg, "a", "b", "c") as stores:
        messages = [kit.outbound(f"m{i}") for i in range(30)]
        for m in messages:
            await stores[0].enqueue(m)
        claims = await asyncio.gather(*(store.claim_next(f"sim{i}") for i in range(10)
                                        for store in stores))
        claimed = [c.id for c in claims if c is not None]
        assert len(claimed) == 30 and len(set(claimed)) == 30
        assert await stores[1].counts() == {"sending": 30}


async def test_a_claim_records_the_host_and_its_lease(pg):
    async with hosts(pg, "a", lease=20.0) as (a,):
        sms = kit.outbound()
        await a.enqueue(sms)
        before = time.time()
        await a.claim_next("sim0")
        row = await a.db.read(lambda conn: _row(conn, sms.id))
        assert row["node"] == "a" and before + 20 <= row["lease_until"] <= time.time() + 20
        assert (await a.events(sms.id))[-1]["reason"] == "claimed by sim0 on a"
        assert await a.mark_sent(sms.id, [3], purge_text=False)
        assert (await a.db.read(lambda conn: _row(conn, sms.id)))["lease_until"] is None


async def test_a_dead_hosts_send_comes_back_after_its_lease_as_a_possible_duplicate(pg):
    async with hosts(pg, "a", "b", lease=0.5) as (a, b):
        sms = kit.outbound()
        await a.enqueue(sms)
        await a.claim_next("sim0")                       # then host a dies: no renewal
        assert await b.recover_abandoned(max_attempts=3, max_ambiguous=1) == []     # its lease still runs
        await asyncio.sleep(0.6)
        assert await b.recover_abandoned(max_attempts=3, max_ambiguous=1) == [sms.id]
        again = await b.claim_next("sim1")
        assert again.id == sms.id and again.possible_duplicate and again.attempts == 2
        # Host a comes back and records the end of the send it lost: refused, the message is b's now.
        assert not await a.mark_sent(sms.id, [9], purge_text=False)
        assert await b.mark_sent(sms.id, [4], purge_text=False)
        got = await a.get(sms.id)
        assert got.state is State.SENT and got.references == [4]


async def test_renewal_keeps_a_long_send_its_own(pg):
    async with hosts(pg, "a", "b", lease=0.6) as (a, b):
        sms = kit.outbound()
        await a.enqueue(sms)
        await a.claim_next("sim0")
        for _ in range(4):
            await asyncio.sleep(0.3)
            assert await a.renew([{"name": "sim0", "state": "ready"}]) == 1
            assert await b.recover_abandoned(max_attempts=3, max_ambiguous=1) == []
        assert await a.mark_sent(sms.id, [1], purge_text=False)
        nodes = await b.nodes()
        assert [(n["name"], n["modems"]) for n in nodes] == [("a", [{"name": "sim0", "state": "ready"}])]


async def test_an_abandoned_otp_with_no_resend_left_fails_and_loses_its_code(pg):
    async with hosts(pg, "a", "b", lease=0.2) as (a, b):
        otp = kit.outbound("123456 is your code", kind=Kind.OTP)
        await a.enqueue(otp)
        await a.claim_next("sim0")
        await asyncio.sleep(0.3)
        assert await b.recover_abandoned(max_attempts=1, max_ambiguous=1) == [otp.id]
        got = await b.get(otp.id)
        assert got.state is State.FAILED and got.text is None and got.error_code == "interrupted"


async def test_an_expired_otp_is_not_sent_late_by_the_host_that_takes_it_back(pg):
    async with hosts(pg, "a", "b", lease=0.2) as (a, b):
        otp = kit.outbound("123456 is your code", kind=Kind.OTP, deadline=time.time() + 0.4)
        await a.enqueue(otp)
        await a.claim_next("sim0")
        await asyncio.sleep(0.5)
        assert await b.recover_abandoned(max_attempts=3, max_ambiguous=1) == [otp.id]
        assert await b.claim_next("sim1") is None
        assert await b.expire_due() == [otp.id]
        assert (await b.get(otp.id)).state is State.EXPIRED


async def test_start_up_recovery_takes_back_only_this_hosts_own_sends(pg):
    async with hosts(pg, "a", "b") as (a, b):
        mine, theirs = kit.outbound("mine"), kit.outbound("theirs")
        await a.enqueue(mine)
        await a.claim_next("sim0")
        await b.enqueue(theirs)
        await b.claim_next("sim0")
        assert await a.recover_interrupted(max_attempts=3, max_ambiguous=1) == [mine.id]
        assert (await b.get(theirs.id)).state is State.SENDING


async def test_a_message_accepted_on_one_host_wakes_the_others_at_once(pg):
    async with hosts(pg, "a", "b") as (a, b):
        woken = asyncio.Event()
        b.on_new_message(woken.set)
        await asyncio.sleep(0.2)             # listening
        woken.clear()
        started = time.monotonic()
        await a.enqueue(kit.outbound())
        await asyncio.wait_for(woken.wait(), 5)
        assert time.monotonic() - started < 1.0


async def test_the_same_idempotency_key_on_two_hosts_at_once_is_one_message(pg):
    async with hosts(pg, "a", "b") as (a, b):
        now = time.time()
        requests = [kit.outbound("once", idempotency_key="order-1", request_digest="d", created_at=now)
                    for _ in range(10)]
        results = await asyncio.gather(*(store.enqueue(m) for m, store in zip(requests, [a, b] * 5)))
        assert sum(r.created for r in results) == 1
        assert len({r.message.id for r in results}) == 1
        assert await a.counts() == {"queued": 1}


async def _row(conn, message_id):
    from psycopg.rows import dict_row
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute("SELECT node, lease_until FROM messages WHERE id = %s", (message_id,))
        return await cursor.fetchone()
