"""Routed messages in the queue, on both backends (conftest's any_store): a modem claims only what its route keys
allow (domain.routing), in the same priority and due order as ever; every way in (single, batch, OTP issue and
resend) stores the route."""

from __future__ import annotations

import importlib
import time

import pytest

import kit
from modemd.domain.routing import modem_keys
from modemd.domain.sms import Kind, OutboundSms, Priority, State, new_batch_id, new_message_id
from modemd.store import Verification

DE1 = modem_keys("de1", ["de"])
DE2 = modem_keys("de2", ["de"])
FR1 = modem_keys("fr1", ["fr"])


@pytest.fixture
def store(any_store):
    return any_store


def make(route=None, *, priority=Priority.NORMAL, now=None, to="+4915112345678", **extra) -> OutboundSms:
    now = time.time() if now is None else now
    return OutboundSms(id=new_message_id(now), to=to, text="hi", parts=1, priority=priority, next_attempt_at=now,
                       created_at=now, updated_at=now, route=route, **extra)


async def test_a_message_pinned_to_a_modem_is_claimed_by_it_only(store):
    pinned = make("modem:de1")
    await store.enqueue(pinned)
    assert await store.claim_next("fr1", routes=FR1) is None
    assert await store.claim_next("de2", routes=DE2) is None       # same group, another modem: not it
    claimed = await store.claim_next("de1", routes=DE1)
    assert claimed.id == pinned.id and claimed.route == "modem:de1" and claimed.modem == "de1"


async def test_a_group_route_is_claimed_by_any_modem_of_the_group(store):
    first, second = make("group:de"), make("group:de")
    await store.enqueue(first)
    await store.enqueue(second)
    assert await store.claim_next("fr1", routes=FR1) is None
    assert (await store.claim_next("de2", routes=DE2)).id == first.id
    assert (await store.claim_next("de1", routes=DE1)).id == second.id


async def test_a_message_without_a_route_is_claimed_by_any_modem(store):
    anyone = make()
    await store.enqueue(anyone)
    got = await store.claim_next("fr1", routes=FR1)
    assert got.id == anyone.id and got.route is None


async def test_claim_without_routes_serves_the_modems_own_key(store):
    await store.enqueue(make("modem:de1"))
    assert await store.claim_next("fr1") is None
    assert (await store.claim_next("de1")).route == "modem:de1"


async def test_priority_and_due_order_are_kept_among_what_a_modem_may_send(store):
    now = time.time()
    older_fr = make("group:fr", now=now - 30)
    old_de = make("group:de", now=now - 20)
    new_de = make(None, now=now - 10)
    otp_fr = make("modem:fr1", priority=Priority.HIGH, now=now - 5)
    otp_de = make("modem:de1", priority=Priority.HIGH, now=now - 1)
    for sms in (older_fr, old_de, new_de, otp_fr, otp_de):
        await store.enqueue(sms)
    order = [(await store.claim_next("de1", now, routes=DE1)).id for _ in range(3)]
    assert order == [otp_de.id, old_de.id, new_de.id]
    assert await store.claim_next("de1", now, routes=DE1) is None
    assert [(await store.claim_next("fr1", now, routes=FR1)).id for _ in range(2)] == [otp_fr.id, older_fr.id]


async def test_next_due_at_counts_only_what_the_routes_allow(store):
    now = time.time()
    await store.enqueue(make("modem:fr1", now=now - 50))
    later = make("group:de", now=now + 100)
    await store.enqueue(later)
    assert await store.next_due_at() == pytest.approx(now - 50)
    assert await store.next_due_at(DE1) == pytest.approx(now + 100)
    assert await store.next_due_at(modem_keys("x")) is None


async def test_a_batch_keeps_each_messages_route(store):
    batch_id = new_batch_id()
    batch = [make("group:de", batch_id=batch_id), make("group:fr", to="+33612345678", batch_id=batch_id),
             make(None, to="+441632960123", batch_id=batch_id)]
    await store.enqueue_batch(batch)
    assert [m.route for m in await store.batch(batch_id)] == ["group:de", "group:fr", None]
    assert (await store.claim_next("fr1", routes=FR1)).id == batch[1].id


async def test_a_pinned_message_whose_modem_never_comes_expires_at_its_deadline(store):
    now = time.time()
    waiting = make("modem:gone", deadline=now + 5, now=now)
    await store.enqueue(waiting)
    assert await store.claim_next("de1", now + 1, routes=DE1) is None
    assert await store.expire_due(now + 6) == [waiting.id]
    assert (await store.get(waiting.id)).state is State.EXPIRED


async def test_an_otp_issued_and_sent_again_keeps_its_route(store):
    package = type(store).__module__.rsplit(".", 1)[0]
    otp_store = importlib.import_module(f"{package}.otp").OtpStore(store)
    now = time.time()
    first = make("modem:fr1", kind=Kind.OTP, priority=Priority.HIGH, deadline=now + 300)
    verification = Verification(id="otp_" + first.id[4:], destination=first.to, code_hmac=b"x" * 32,
                                created_at=now, expires_at=now + 300, attempts=0, max_attempts=5, status="pending",
                                message_id=first.id, app="default", code_sealed="sealed")
    assert await otp_store.issue(verification, first, []) is None
    again = make("group:de", kind=Kind.OTP, priority=Priority.HIGH, deadline=now + 300)
    assert await otp_store.resend(verification.id, again, [], now=now, valid_after=now, app="default") == 2
    assert (await store.get(first.id)).state is State.CANCELED
    assert await store.claim_next("fr1", routes=FR1) is None
    assert (await store.claim_next("de2", routes=DE2)).id == again.id
    assert (await store.get(again.id)).route == "group:de"


async def test_the_route_survives_a_reopen(tmp_path):
    async with kit.open_store(tmp_path / "modemd.db") as s:
        sms = make("group:de")
        await s.enqueue(sms)
    async with kit.open_store(tmp_path / "modemd.db") as s:
        assert (await s.get(sms.id)).route == "group:de"


async def test_queued_by_route_counts_what_waits_per_route(store):
    now = time.time()
    for route, age in ((None, 30), (None, 5), ("modem:de1", 60), ("group:fr", 10)):
        await store.enqueue(make(route, now=now - age))
    by_route = await store.queued_by_route()
    assert {route: n for route, (n, _) in by_route.items()} == {None: 2, "modem:de1": 1, "group:fr": 1}
    assert by_route["modem:de1"][1] == pytest.approx(now - 60)
    assert by_route[None][1] == pytest.approx(now - 30)
    await store.claim_next("de1", routes=DE1)                       # the oldest it may take: gone from the queue
    assert "modem:de1" not in await store.queued_by_route()
