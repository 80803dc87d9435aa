"""Store.enqueue_batch on both backends (conftest's any_store): the messages of one request for several numbers go in
one transaction or none; every message counts against its limits, one after another, and the queue's bound counts
them all; a replay of the request's Idempotency-Key returns the same messages."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from modemd.domain.sms import OutboundSms, new_batch_id, new_message_id
from modemd.store import IdempotencyMismatch, Limit, QueueFull, RateLimited

NUMBERS = [f"+49151123450{i:02d}" for i in range(100)]


@pytest.fixture
def store(any_store):
    return any_store


def batch(count: int, *, key: str | None = None, digest: str = "d1", app: str = "default",
          now: float | None = None) -> list[OutboundSms]:
    """`count` messages to different numbers sharing a batch id, the first with the request's key and digest."""
    now = time.time() if now is None else now
    batch_id = new_batch_id(now)
    messages = [OutboundSms(id=new_message_id(now), to=to, text="hi", parts=1, next_attempt_at=now, created_at=now,
                            updated_at=now, app=app, batch_id=batch_id) for to in NUMBERS[:count]]
    messages[0] = replace(messages[0], idempotency_key=key, request_digest=digest)
    return messages


def app_limit(limit: int, window: float = 3600.0) -> Limit:
    return Limit("app-hour:shop", limit, window)


def each(messages: list[OutboundSms], *limits: Limit) -> list[list[Limit]]:
    """Every message counts against `limits` and its own number's bucket."""
    return [[*limits, Limit(f"sms-number:{m.to}", 20, 3600.0)] for m in messages]


async def test_a_batch_is_queued_whole_and_listed_in_its_order(store):
    messages = batch(3)
    queued = await store.enqueue_batch(messages, limits=each(messages, app_limit(10)))
    assert queued.created and [m.id for m in queued.messages] == [m.id for m in messages]
    assert await store.counts() == {"queued": 3}
    listed = await store.batch(messages[0].batch_id)
    assert [(m.id, m.to, m.batch_id) for m in listed] == [(m.id, m.to, messages[0].batch_id) for m in messages]
    assert await store.batch(messages[0].batch_id, app="default") == listed
    assert await store.batch(messages[0].batch_id, app="other") == []
    assert await store.batch("bat_unknown") == []
    assert (await store.get(messages[1].id)).batch_id == messages[0].batch_id


@pytest.mark.parametrize("window", [3600.0, 2 * 86400.0])     # SQLite: its in-memory index, and SQL past its day
async def test_a_limit_reached_partway_refuses_the_whole_batch_and_counts_nothing(store, window):
    limit = app_limit(5, window)
    first = batch(3)
    await store.enqueue_batch(first, limits=each(first, limit))
    refused = batch(3)
    with pytest.raises(RateLimited) as caught:
        await store.enqueue_batch(refused, limits=each(refused, limit))
    assert caught.value.bucket == limit.bucket and 0 < caught.value.retry_after <= window
    assert await store.counts() == {"queued": 3} and await store.batch(refused[0].batch_id) == []
    fits = batch(2)                              # the refused batch counted no hit: two more still fit
    assert (await store.enqueue_batch(fits, limits=each(fits, limit))).created
    with pytest.raises(RateLimited):
        one = batch(1)
        await store.enqueue_batch(one, limits=each(one, limit))


async def test_a_batch_larger_than_a_limit_never_fits(store):
    messages = batch(4)
    with pytest.raises(RateLimited) as caught:
        await store.enqueue_batch(messages, limits=each(messages, app_limit(3)))
    assert caught.value.retry_after == pytest.approx(3600.0)      # its own hits fill the window
    assert await store.counts() == {}


async def test_a_large_limit_counts_every_message_of_a_batch(store):
    """Past 100 a PostgreSQL limit counts in time slots (store/postgres/limits.py): the same answers."""
    limit = app_limit(150)
    for size in (100, 48):
        messages = batch(size)
        await store.enqueue_batch(messages, limits=[[limit]] * size)
    refused = batch(3)
    with pytest.raises(RateLimited):
        await store.enqueue_batch(refused, limits=[[limit]] * 3)
    fits = batch(2)
    assert (await store.enqueue_batch(fits, limits=[[limit]] * 2)).created
    assert await store.counts() == {"queued": 150}


async def test_the_queue_bound_must_have_room_for_every_message(store):
    await store.enqueue_batch(batch(3))
    with pytest.raises(QueueFull):
        await store.enqueue_batch(batch(3), bound=5)
    assert await store.counts() == {"queued": 3}
    assert (await store.enqueue_batch(batch(2), bound=5)).created


async def test_a_replayed_key_returns_the_same_batch_and_another_digest_is_refused(store):
    now = time.time()
    first = await store.enqueue_batch(batch(3, key="shop:order-7", now=now))
    again = await store.enqueue_batch(batch(3, key="shop:order-7", now=now + 60), bound=0,
                                      limits=[[app_limit(1)]] * 3)       # a replay counts against nothing
    assert not again.created and [m.id for m in again.messages] == [m.id for m in first.messages]
    with pytest.raises(IdempotencyMismatch) as caught:
        await store.enqueue_batch(batch(2, key="shop:order-7", digest="d2", now=now + 60))
    assert caught.value.first.id == first.messages[0].id
    assert caught.value.first.batch_id == first.messages[0].batch_id
    assert await store.counts() == {"queued": 3}


async def test_a_single_message_is_a_batch_of_one_without_a_batch_id(store):
    now = time.time()
    sms = OutboundSms(id=new_message_id(now), to=NUMBERS[0], text="hi", parts=1, next_attempt_at=now,
                      created_at=now, updated_at=now, idempotency_key="k", request_digest="d")
    queued = await store.enqueue(sms)
    replayed = await store.enqueue_batch([replace(sms, id=new_message_id(now))])
    assert not replayed.created and [m.id for m in replayed.messages] == [queued.message.id]
    assert (await store.get(sms.id)).batch_id is None


async def test_a_batch_needs_a_message_and_one_list_of_limits_per_message(store):
    with pytest.raises(ValueError):
        await store.enqueue_batch([])
    with pytest.raises(ValueError):
        await store.enqueue_batch(batch(2), limits=[[app_limit(5)]])
