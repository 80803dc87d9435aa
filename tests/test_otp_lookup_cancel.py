"""OtpStore.lookup and OtpStore.cancel on each backend (conftest's any_store), and through OtpService: what the Twilio
Verify layer's fetch and Status=canceled rest on. A live code is pending (or out of checks) and not expired; an
approved code is gone at once; a canceled code is never checked again and its SMS is not sent if still queued. The
`pg` test: a cancel and a right code racing on two hosts, exactly one takes effect."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import pytest

from modemd.domain.sms import State
from modemd.services.otp import OtpService, OtpSettings
from modemd.store import VerifyOutcome
from test_otp_store import RIGHT, TO, WRONG, count, hosts, issue, otp_store, query, verify


@pytest.fixture
def store(any_store):
    return any_store


async def test_lookup_finds_the_apps_live_code_by_id_or_number(store):
    otp = otp_store(store)
    now = time.time()
    v, _ = await issue(otp, now=now)
    assert await otp.lookup("default", now, verification_id=v.id) == v
    assert await otp.lookup("default", now, destination=TO) == v
    assert await otp.lookup("shop", now, verification_id=v.id) is None          # never another app's
    assert await otp.lookup("shop", now, destination=TO) is None
    assert await otp.lookup("default", now, destination="+4915112345600") is None
    assert await otp.lookup("default", now, verification_id="otp_" + "0" * 26) is None


async def test_lookup_shows_a_code_out_of_checks_but_not_an_expired_approved_or_superseded_one(store):
    otp = otp_store(store)
    now = time.time()
    locked, _ = await issue(otp, now=now, max_attempts=1, to="+4915112345600")
    await verify(otp, WRONG, to=locked.destination, now=now)
    found = await otp.lookup("default", now, verification_id=locked.id)
    assert (found.status, found.attempts) == ("max_attempts_reached", 1)
    assert await otp.lookup("default", now + 300, verification_id=locked.id) is None      # expired: its time is up
    old, _ = await issue(otp, now=now)
    new, _ = await issue(otp, now=now + 1)
    assert await otp.lookup("default", now + 1, verification_id=old.id) is None           # superseded
    assert await otp.lookup("default", now + 1, destination=TO) == new
    assert await verify(otp, now=now + 2) == VerifyOutcome("approved", None, new.id)
    assert await otp.lookup("default", now + 2, verification_id=new.id) is None           # approved: deleted


async def test_cancel_ends_the_code_and_cancels_its_queued_sms_through_the_gate(store):
    otp = otp_store(store)
    now = time.time()
    v, sms = await issue(otp, now=now)
    canceled = await otp.cancel(v.id, "default", now + 1)
    assert (canceled.id, canceled.status, canceled.destination) == (v.id, "canceled", TO)
    message = await store.get(sms.id)
    assert message.state is State.CANCELED and message.text is None        # the sealed code is gone with it
    assert [(e["from_state"], e["to_state"], e["reason"]) for e in await store.events(sms.id)] == [
        (None, "queued", "accepted"), ("queued", "canceled", "its verification was canceled")]
    assert await otp.lookup("default", now + 1, verification_id=v.id) is None
    assert await verify(otp, now=now + 2) == VerifyOutcome("not_found")            # by number ...
    assert await verify(otp, vid=v.id, now=now + 2) == VerifyOutcome("not_found")  # ... and by id: never again
    assert await otp.cancel(v.id, "default", now + 3) is None                      # once
    assert await query(store, "SELECT status, attempts FROM otp_verifications") == [("canceled", 0)]


async def test_cancel_leaves_another_apps_code_and_an_expired_one_alone(store):
    otp = otp_store(store)
    now = time.time()
    v, sms = await issue(otp, now=now, app="shop")
    assert await otp.cancel(v.id, "bank", now) is None
    assert await otp.cancel(v.id, "shop", now + 300) is None                       # expired first
    assert (await store.get(sms.id)).state is State.QUEUED
    assert await query(store, "SELECT status FROM otp_verifications") == [("pending",)]
    assert await count(store, "message_events") == 1


async def test_cancel_of_a_code_already_being_sent_keeps_its_sms(store):
    otp = otp_store(store)
    v, sms = await issue(otp)
    assert (await store.claim_next("m0")).id == sms.id
    assert (await otp.cancel(v.id, "default", time.time())).status == "canceled"
    assert (await store.get(sms.id)).state is State.SENDING             # on its way: compare-and-set leaves it
    assert await verify(otp) == VerifyOutcome("not_found")


async def test_the_service_looks_up_and_cancels_for_one_app(store):
    otp = otp_store(store)
    service = OtpService(otp, b"k" * 32, OtpSettings(app="Acme", resend_gap=0))
    issued = await service.issue(TO, token_id="app:shop", app="shop")
    assert (await service.lookup(issued.id, app="shop")).destination == TO
    assert (await service.lookup(to=TO, app="shop")).id == issued.id
    assert await service.lookup(issued.id, app="bank") is None
    assert await service.cancel(issued.id, app="bank") is None
    assert (await service.cancel(issued.id, app="shop")).status == "canceled"
    assert (await store.get(issued.message_id)).state is State.CANCELED
    assert await service.lookup(issued.id, app="shop") is None


async def test_a_cancel_and_a_right_code_racing_on_two_hosts_take_turns(pg):
    """The verify's row lock (SELECT ... FOR UPDATE) and the cancel's UPDATE meet on the row: either the code is
    approved and the cancel finds nothing, or it is canceled and the check finds nothing. Never both."""
    async with AsyncExitStack() as stack:
        a, b = await hosts(stack, pg, 2)
        for _ in range(10):
            v, _ = await issue(otp_store(a))
            checked, canceled = await asyncio.wait_for(asyncio.gather(
                verify(otp_store(a), RIGHT), otp_store(b).cancel(v.id, "default", time.time())), 60)
            assert (checked.status == "approved") != (canceled is not None), (checked, canceled)
