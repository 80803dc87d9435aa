"""The store's reads behind the admin page, on both backends: the oldest queued message, the sends of the last
hours (bounded), and the webhook deliveries not done."""

from __future__ import annotations

import time

import kit
from kit.store import outbound
from modemd.store import HookSpec


async def test_oldest_queued_at_is_the_first_accepted_still_queued(any_store):
    assert await any_store.oldest_queued_at() is None
    first, second = outbound(created_at=time.time() - 60), outbound()
    await any_store.enqueue(first)
    await any_store.enqueue(second)
    assert abs(await any_store.oldest_queued_at() - first.created_at) < 1e-3
    assert await any_store.cancel(first.id)
    assert abs(await any_store.oldest_queued_at() - second.created_at) < 1e-3


async def _send(store, sms):
    await store.enqueue(sms)
    claimed = await store.claim_next("sim0")
    assert claimed is not None and claimed.id == sms.id
    assert await store.mark_sent(sms.id, [1], purge_text=False)


async def test_sends_since_gives_each_send_and_its_latency_newest_first_bounded(any_store):
    start = time.time()
    older, newer = outbound(created_at=start - 30), outbound(created_at=start - 5)
    await _send(any_store, older)
    await _send(any_store, newer)
    sends = await any_store.sends_since(start - 3600, limit=10)
    assert len(sends) == 2
    (at_new, latency_new), (at_old, latency_old) = sends
    assert at_new >= at_old >= start
    assert 5 <= latency_new < 30 <= latency_old < 60
    assert len(await any_store.sends_since(start - 3600, limit=1)) == 1
    assert await any_store.sends_since(time.time() + 60, limit=10) == []


async def test_unsettled_lists_pending_and_failed_deliveries_without_bodies(any_store):
    _, _, WebhookStore, _ = kit.record_stores(any_store)
    hooks = WebhookStore(any_store)
    await _send(any_store, outbound())
    assert await hooks.unsettled(10) == []
    await _captured(hooks)
    rows = await hooks.unsettled(10)
    assert [r["state"] for r in rows] == ["pending"]
    assert "body" not in rows[0] and rows[0]["hook"] == "hook-a"
    claimed = await hooks.due("hook-a", time.time(), 10, set())      # PostgreSQL: a host fails only what it holds
    await hooks.mark_failed(claimed[0].seq, time.time(), "HTTP 500")
    failed = await hooks.unsettled(10)
    assert [(r["state"], r["last_error"]) for r in failed] == [("failed", "HTTP 500")]


async def _captured(hooks) -> None:
    """Capture the log's entries as a webhook of sms:sent would."""
    spec = HookSpec(key="hook-a", events=frozenset({"sms:sent"}))
    created, _ = await hooks.capture(lambda: [spec], lambda event, hook: ("evt-1", '{"event": "x"}'), time.time())
    assert created >= 1
