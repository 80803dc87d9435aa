"""Bounded state: finished records lose their phone numbers after [retention] numbers and go after records; what
is still queued stays; the work goes in batches (store/sqlite/retention.py, store/postgres/retention.py). The tests
taking `store` run on both backends (conftest's any_store); the PostgreSQL-only ones are about several hosts pruning
one database."""

from __future__ import annotations

import asyncio
import importlib

import pytest

import kit
from modemd.domain.sms import Kind, OutboundSms, State
from modemd.store import InboundPart

DAY = 86400.0
NOW = 1_800_000_000.0


def backend_class(store, module: str, name: str):
    """The class `name` of `module` in `store`'s backend (kit.record_stores gives all the record kinds at once)."""
    return getattr(importlib.import_module(f"{type(store).__module__.rpartition('.')[0]}.{module}"), name)


@pytest.fixture
def store(any_store):
    return any_store


async def _message(store, i: int, age_days: float, *, finish: bool = True) -> str:
    at = NOW - age_days * DAY
    sms = OutboundSms(id=f"msg_{i:04d}", to=f"+49151123{i:05d}", text="hi", parts=1, kind=Kind.SMS,
                      next_attempt_at=at, created_at=at, updated_at=at)
    await store.enqueue(sms)
    if finish:
        assert await store.transition(sms.id, (State.QUEUED,), State.SENDING, "claimed", now=at)
        assert await store.transition(sms.id, (State.SENDING,), State.SENT, "sent", now=at)
    return sms.id


def _received(i: int, age_days: float, *, ref: int = -1, total: int = 1) -> InboundPart:
    """An SMS (ref -1) or one part of a concatenated one that never completed, received `age_days` ago."""
    return InboundPart(modem="m0", sender=f"+4917000000{i:02d}", ref=ref, total=total, seq=1, text="x",
                       sc_timestamp=None, received_at=NOW - age_days * DAY, pdu_digest=f"d{i}")


async def test_numbers_masked_then_records_deleted_queued_kept(store):
    Retention, InboxStore = backend_class(store, "retention", "Retention"), backend_class(store, "inbox", "InboxStore")
    inbox = InboxStore(store)
    old = [await _message(store, i, 100) for i in range(7)]          # past both ages
    middle = [await _message(store, 100 + i, 40) for i in range(3)]  # past the numbers age only
    fresh = await _message(store, 200, 1)
    waiting = await _message(store, 300, 200, finish=False)          # queued for 200 days: untouched
    for i, age in enumerate((100, 40, 1)):
        assert (await inbox.add_part(_received(i, age), f"in_{i}")).received_at == NOW - age * DAY
    for i, age in ((10, 100), (11, 40)):                              # parts of messages that never completed
        assert await inbox.add_part(_received(i, age, ref=5, total=2), f"in_{i}") is None
    for recipient, age in (("+4915112345678", 100), ("+4915112345679", 40)):   # reports that matched nothing
        assert await inbox.apply_status_report("m0", 1, recipient, 0, None, NOW - age * DAY, 3600.0) is None

    pruned = await Retention(store.db, batch=2).prune(NOW, records=90 * DAY, numbers=30 * DAY)
    assert pruned.deleted == {"messages": 7, "inbox": 1, "status_reports": 1}
    assert pruned.masked == {"messages": 10, "inbox": 2, "inbox_parts": 2, "status_reports": 2}
    assert [await store.get(i) for i in old] == [None] * 7
    assert [await store.events(i) for i in old] == [[]] * 7
    assert [(await store.get(i)).to for i in middle] == ["+4915******100", "+4915******101", "+4915******102"]
    assert (await store.get(fresh)).to == "+4915112300200"
    assert (await store.get(waiting)).to == "+4915112300300"
    assert sorted(m.sender for m in await inbox.list()) == ["+4917*****001", "+491700000002"]
    [left] = await inbox.flush_stale(NOW, lambda: "in_flushed")      # the 40-day-old part, its number masked
    assert (left.sender, left.received_at) == ("+4917*****011", NOW - 40 * DAY)
    assert await store.counts() == {"queued": 1, "sent": 4}
    again = await Retention(store.db, batch=2).prune(NOW, records=90 * DAY, numbers=30 * DAY)
    assert not again                                                   # nothing left to do


# ---- PostgreSQL: several hosts on one database -------------------------------------------------------------------
@pytest.fixture
async def pg_store(pg):
    async with kit.open_pg_store(pg, node="host-a") as s:
        yield s


async def test_a_row_another_transaction_holds_is_skipped_not_waited_for(pg, pg_store):
    """A host pruning while another holds one of the rows (a report settling it, or another host's prune) goes on
    with the rest; the held row goes on a later run."""
    import psycopg
    from modemd.store.postgres.retention import Retention
    old = [await _message(pg_store, i, 100) for i in range(5)]
    async with await psycopg.AsyncConnection.connect(pg.url, password=pg.password) as holder:
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM messages WHERE id = %s FOR UPDATE", (old[2],))
            pruned = await asyncio.wait_for(Retention(pg_store.db, batch=2).prune(
                NOW, records=90 * DAY, numbers=30 * DAY), timeout=10)
    assert pruned.deleted["messages"] == 4 and pruned.masked["messages"] == 4
    assert [m for m in old if await pg_store.get(m)] == [old[2]]
    pruned = await Retention(pg_store.db, batch=2).prune(NOW, records=90 * DAY, numbers=30 * DAY)
    assert pruned.deleted["messages"] == 1 and await pg_store.get(old[2]) is None


async def test_two_hosts_pruning_at_once_share_the_work(pg, pg_store):
    from modemd.store.postgres.queue import Store as PgStore
    from modemd.store.postgres.retention import Retention
    old = [await _message(pg_store, i, 100) for i in range(40)]
    middle = [await _message(pg_store, 100 + i, 40) for i in range(40)]
    host_b = PgStore(pg.url, pg.password, "host-b")
    await host_b.open()
    try:
        both = await asyncio.gather(*(Retention(s.db, batch=3).prune(NOW, records=90 * DAY, numbers=30 * DAY)
                                      for s in (pg_store, host_b)))
    finally:
        await host_b.close()
    assert sum(p.deleted["messages"] for p in both) == 40
    assert sum(p.masked["messages"] for p in both) == 80
    assert [m for m in old if await pg_store.get(m)] == []
    assert [m for m in middle if "*" not in (await pg_store.get(m)).to] == []
    assert await pg_store.counts() == {"sent": 40}
