"""The OtpStore of each backend (store/sqlite/otp.py, store/postgres/otp.py) against a real store: issue and
verify, wrong codes and the locks, expiry, superseded codes, apps kept apart, rate limits, prune. The tests taking
`store` run on both backends (conftest's any_store); the `pg` ones are about several hosts on one PostgreSQL: a
code checked through another host than issued it, single use and exact wrong-code counts under concurrent verifies
spread over separate pools, one pending code per app and number under concurrent issues."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib
import time
from contextlib import AsyncExitStack

import pytest

import kit
from modemd.domain.sms import Kind, OutboundSms, Priority, State, new_message_id
from modemd.store import LOCK_DECAY, Limit, PendingCode, QueueFull, RateLimited, Verification, VerifyOutcome

TO = "+4915112345678"
SECRET = b"s" * 32
RIGHT, WRONG = "123456", "654321"
MANY = 20           # concurrent verifies in the several-hosts tests
HOSTS = 3


@pytest.fixture
def store(any_store):
    return any_store


def otp_store(store):
    """The OtpStore of `store`'s backend on it (kit.record_stores(store)[0] once every record kind of the PostgreSQL
    backend is written; until then that import would fail for the kinds still missing)."""
    package = type(store).__module__.rpartition(".")[0]
    return importlib.import_module(f"{package}.otp").OtpStore(store)


def mac(verification_id: str, code: str) -> bytes:
    return hmac.digest(SECRET, f"{verification_id}:{code}".encode(), hashlib.sha256)


def check(code: str, seen: list | None = None):
    """The service's check: the keyed hash of `code` against the row's (services/otp.py); `seen` collects what the
    store handed over."""
    def compare(v: Verification | None) -> bool:
        if seen is not None:
            seen.append(v)
        return v is not None and hmac.compare_digest(v.code_hmac, mac(v.id, code))
    return compare


def sms(to: str = TO, app: str = "default", now: float | None = None, ttl: float = 300.0) -> OutboundSms:
    now = time.time() if now is None else now
    return OutboundSms(id=new_message_id(now), to=to, kind=Kind.OTP, priority=Priority.HIGH, text="sealed",
                       parts=1, next_attempt_at=now, deadline=now + ttl, created_at=now, updated_at=now, app=app)


async def issue(otp, *, to: str = TO, app: str = "default", now: float | None = None, ttl: float = 300.0,
                max_attempts: int = 5, limits: list[Limit] = (), resend_until: float | None = None
                ) -> tuple[Verification, OutboundSms]:
    """A code for `to` (its right code is RIGHT), issued as the OTP service issues one. With `resend_until`, the
    pending code instead if one is valid after then (a PendingCode, and the SMS that was not queued)."""
    now = time.time() if now is None else now
    message = sms(to, app, now, ttl)
    vid = "otp_" + new_message_id(now)[4:]
    v = Verification(id=vid, destination=to, code_hmac=mac(vid, RIGHT), created_at=now, expires_at=now + ttl,
                     attempts=0, max_attempts=max_attempts, status="pending", message_id=message.id, app=app,
                     code_sealed=f"sealed {vid}")
    pending = await otp.issue(v, message, list(limits), resend_until=resend_until)
    return pending or v, message


async def verify(otp, code: str = RIGHT, *, to: str | None = TO, vid: str | None = None, now: float | None = None,
                 lock_after: int = 100, limits=lambda v: [], app: str | None = "default") -> VerifyOutcome:
    return await otp.verify(None if vid else to, vid, time.time() if now is None else now, check(code), lock_after,
                            limits, app)


def postgres(store) -> bool:
    return type(store).__module__.startswith("modemd.store.postgres")


async def query(store, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a SELECT, on either backend (placeholders written %s)."""
    if postgres(store):
        async def work(conn):
            return [tuple(r) for r in await (await conn.execute(sql, params)).fetchall()]
    else:
        def work(conn):
            return [tuple(r) for r in conn.execute(sql.replace("%s", "?"), params).fetchall()]
    return await store.db.read(work)


async def count(store, table: str) -> int:
    return (await query(store, f"SELECT count(*) FROM {table}"))[0][0]


# ---- both backends -----------------------------------------------------------------------------------------------
async def test_a_code_is_approved_once(store):
    otp = otp_store(store)
    v, message = await issue(otp)
    assert (await store.get(message.id)).state is State.QUEUED
    seen = []
    assert await otp.verify(TO, None, time.time(), check(RIGHT, seen), 100) == VerifyOutcome("approved", None, v.id)
    assert seen == [v]          # the row as it was issued, in the record's types (bytea as bytes, times as floats)
    assert type(seen[0].code_hmac) is bytes and type(seen[0].expires_at) is float and type(seen[0].attempts) is int
    assert await verify(otp) == VerifyOutcome("not_found")                   # single use
    assert await verify(otp, vid=v.id) == VerifyOutcome("not_found")
    assert await count(store, "otp_verifications") == 0


async def test_a_code_is_found_by_its_id_too(store):
    otp = otp_store(store)
    first, _ = await issue(otp, to="+4915112345600")
    v, _ = await issue(otp)
    assert await verify(otp, vid=v.id) == VerifyOutcome("approved", None, v.id)
    assert await verify(otp, vid=first.id) == VerifyOutcome("approved", None, first.id)
    assert await verify(otp, vid="otp_" + "0" * 26) == VerifyOutcome("not_found")


async def test_wrong_codes_count_down_to_max_attempts_then_even_the_right_one_is_refused(store):
    otp = otp_store(store)
    v, _ = await issue(otp, max_attempts=3)
    assert [await verify(otp, WRONG) for _ in range(3)] == [
        VerifyOutcome("pending", 2, v.id), VerifyOutcome("pending", 1, v.id),
        VerifyOutcome("max_attempts_reached", 0, v.id)]
    assert await verify(otp) == VerifyOutcome("max_attempts_reached", 0, v.id)
    assert await query(store, "SELECT attempts, status FROM otp_verifications") == [(3, "max_attempts_reached")]


async def test_consecutive_failures_lock_the_number_across_codes_until_an_admin_unlocks_it(store):
    otp = otp_store(store)
    await issue(otp)
    assert (await verify(otp, WRONG, lock_after=2)).status == "pending"
    assert (await verify(otp, WRONG, lock_after=2)).status == "pending"
    v, _ = await issue(otp)                                       # a new code does not start the run again
    assert await verify(otp, lock_after=2) == VerifyOutcome("max_attempts_reached", 0, v.id)
    other, _ = await issue(otp, app="shop")                      # another app's codes for the number are not locked
    assert (await verify(otp, app="shop", lock_after=2)).status == "approved"
    assert await otp.unlock(TO, "default") == 1
    assert await otp.unlock(TO, "default") == 0
    assert await verify(otp, lock_after=2) == VerifyOutcome("approved", None, v.id)


async def test_unlock_without_an_app_lifts_every_apps_lock(store):
    otp = otp_store(store)
    for app in ("default", "shop"):
        await issue(otp, app=app)
        await verify(otp, WRONG, app=app)
    await issue(otp, to="+4915112345600")
    await verify(otp, WRONG, to="+4915112345600")
    assert await otp.unlock(TO) == 2
    assert await query(store, "SELECT destination FROM otp_failures") == [("+4915112345600",)]


async def test_a_run_of_failures_decays(store):
    otp = otp_store(store)
    now = time.time()
    v, _ = await issue(otp, now=now, ttl=3 * LOCK_DECAY, max_attempts=10)
    assert (await verify(otp, WRONG, now=now, lock_after=1)).status == "pending"
    assert (await verify(otp, now=now + 1, lock_after=1)).status == "max_attempts_reached"
    assert (await verify(otp, WRONG, now=now + LOCK_DECAY + 1, lock_after=2)).status == "pending"    # starts at 1
    assert await query(store, "SELECT consecutive FROM otp_failures") == [(1,)]
    assert await verify(otp, now=now + LOCK_DECAY + 2, lock_after=2) == VerifyOutcome("approved", None, v.id)
    assert await count(store, "otp_failures") == 0             # a right code ends the run


async def test_an_expired_code_is_expired_once_then_not_found(store):
    otp = otp_store(store)
    now = time.time()
    v, _ = await issue(otp, now=now, ttl=60)
    assert await verify(otp, now=now + 60) == VerifyOutcome("expired", None, v.id)
    assert await verify(otp, now=now + 61) == VerifyOutcome("not_found")
    assert await query(store, "SELECT status, attempts FROM otp_verifications") == [("expired", 0)]


async def test_a_new_code_supersedes_the_pending_one_and_cancels_its_sms_with_its_event(store):
    otp = otp_store(store)
    now = time.time()
    old, old_sms = await issue(otp, now=now)
    shop, shop_sms = await issue(otp, now=now, app="shop")       # another app's code stays
    new, new_sms = await issue(otp, now=now + 1)
    canceled = await store.get(old_sms.id)
    assert canceled.state is State.CANCELED and canceled.text is None
    assert canceled.error_text == "superseded by a newer code"
    assert [(e["from_state"], e["to_state"], e["reason"]) for e in await store.events(old_sms.id)] == [
        (None, "queued", "accepted"), ("queued", "canceled", "superseded by a newer code")]
    assert (await store.get(new_sms.id)).state is State.QUEUED
    assert (await store.get(shop_sms.id)).state is State.QUEUED
    assert await verify(otp, vid=old.id) == VerifyOutcome("not_found")
    assert await verify(otp, vid=new.id, now=now + 2) == VerifyOutcome("approved", None, new.id)
    assert await verify(otp, app="shop", now=now + 2) == VerifyOutcome("approved", None, shop.id)


async def test_a_superseded_code_already_being_sent_keeps_its_sms(store):
    otp = otp_store(store)
    _, sending = await issue(otp)
    assert (await store.claim_next("m0")).id == sending.id
    await issue(otp)
    assert (await store.get(sending.id)).state is State.SENDING
    assert sorted(await query(store, "SELECT status FROM otp_verifications")) == [("pending",), ("superseded",)]


async def test_a_pending_code_is_handed_back_for_a_resend_and_nothing_is_written(store):
    otp = otp_store(store)
    now = time.time()
    v, first = await issue(otp, now=now)
    limit = Limit(f"otp-send:{TO}", 5, 600.0)
    pending, unsent = await issue(otp, now=now + 1, resend_until=now + 31, limits=[limit])
    assert pending == PendingCode(v.id, f"sealed {v.id}", now, now + 300.0, 1)
    assert await store.get(unsent.id) is None and await count(store, "rate_events") == 0
    # Another app's code, or one that expires before the time asked, is not resent: a new code supersedes it.
    assert isinstance((await issue(otp, app="shop", resend_until=now + 31))[0], Verification)
    assert isinstance((await issue(otp, now=now + 2, resend_until=now + 301))[0], Verification)
    assert (await store.get(first.id)).state is State.CANCELED


async def test_a_resend_queues_the_code_again_in_place_of_its_unsent_sms(store):
    otp = otp_store(store)
    now = time.time() - 10            # the SMS are due: claim_next takes them
    v, first = await issue(otp, now=now)
    limit = Limit(f"otp-send:{TO}", 5, 600.0)
    second = sms(now=now + 1)
    assert await otp.resend(v.id, second, [limit], now=now + 1, valid_after=now + 31, app="default") == 2
    replaced = await store.get(first.id)
    assert replaced.state is State.CANCELED and replaced.text is None
    assert replaced.error_text == "replaced by a resend of the same code"
    assert (await store.get(second.id)).state is State.QUEUED and await count(store, "rate_events") == 1
    assert await query(store, "SELECT sends, message_id FROM otp_verifications") == [(2, second.id)]
    # An SMS already on its way stays: the next resend adds one.
    assert (await store.claim_next("m0")).id == second.id
    third = sms(now=now + 2)
    assert await otp.resend(v.id, third, [limit], now=now + 2, valid_after=now + 32, app="default") == 3
    assert (await store.get(second.id)).state is State.SENDING
    assert await verify(otp, vid=v.id, now=now + 3) == VerifyOutcome("approved", None, v.id)   # the same code


async def test_a_resend_of_a_code_no_longer_pending_writes_nothing(store):
    otp = otp_store(store)
    now = time.time()
    v, _ = await issue(otp, now=now)
    late = sms(now=now + 1)
    assert await otp.resend(v.id, late, [], now=now + 1, valid_after=now + 301, app="default") is None  # expiring
    assert await otp.resend(v.id, late, [], now=now + 1, valid_after=now + 31, app="shop") is None      # not its app
    assert await verify(otp, vid=v.id, now=now + 1) == VerifyOutcome("approved", None, v.id)
    assert await otp.resend(v.id, late, [], now=now + 2, valid_after=now + 32, app="default") is None   # used
    assert await store.get(late.id) is None


async def test_a_full_queue_refuses_a_code_and_its_resend_having_written_nothing(store):
    otp = otp_store(store)
    now = time.time()
    v, first = await issue(otp, now=now)                                      # one message queued
    limit = Limit(f"otp-send:{TO}", 5, 600.0)
    new = sms(to="+4915112345679", now=now)
    code = Verification(id="otp_" + new_message_id(now)[4:], destination=new.to, code_hmac=b"x" * 32, created_at=now,
                        expires_at=now + 300, attempts=0, max_attempts=5, status="pending", message_id=new.id)
    with pytest.raises(QueueFull):
        await otp.issue(code, new, [limit], bound=1)
    with pytest.raises(QueueFull):
        await otp.resend(v.id, sms(now=now + 1), [limit], bound=1, now=now + 1, valid_after=now + 31, app="default")
    assert await count(store, "messages") == 1 and await count(store, "rate_events") == 0
    assert await query(store, "SELECT id, sends FROM otp_verifications") == [(v.id, 1)]
    await otp.issue(code, new, [limit], bound=2)                              # room for one more
    assert (await store.get(new.id)).state is State.QUEUED


async def test_a_refused_resend_writes_nothing(store):
    otp = otp_store(store)
    now = time.time()
    v, first = await issue(otp, now=now)
    full = Limit(f"otp-send:{TO}", 1, 600.0)
    await otp.hit([full], now)
    with pytest.raises(RateLimited):
        await otp.resend(v.id, sms(now=now + 1), [full], now=now + 1, valid_after=now + 31, app="default")
    assert (await store.get(first.id)).state is State.QUEUED
    assert await query(store, "SELECT sends FROM otp_verifications") == [(1,)]
    assert await count(store, "messages") == 1


async def test_another_apps_code_is_not_found_and_costs_nothing(store):
    otp = otp_store(store)
    v, _ = await issue(otp, app="shop")
    limit = Limit(f"otp-verify:{TO}", 1, 600.0)
    seen = []
    outcome = await otp.verify(TO, None, time.time(), check(RIGHT, seen), 100, lambda v: [limit], "bank")
    assert outcome == VerifyOutcome("not_found") and seen == [None]
    assert await verify(otp, vid=v.id, app="bank", limits=lambda v: [limit]) == VerifyOutcome("not_found")
    assert await count(store, "rate_events") == 0
    assert await query(store, "SELECT attempts, status FROM otp_verifications") == [(0, "pending")]
    assert await verify(otp, app=None) == VerifyOutcome("approved", None, v.id)   # admin: every app's


async def test_a_refused_issue_writes_nothing(store):
    otp = otp_store(store)
    old, old_sms = await issue(otp)
    full = Limit(f"otp-send:{TO}", 1, 600.0)
    await otp.hit([full], time.time())
    with pytest.raises(RateLimited):
        await issue(otp, limits=[Limit("otp-country:DE", 100, 86400.0), full])
    assert (await store.get(old_sms.id)).state is State.QUEUED                    # not superseded
    assert await query(store, "SELECT id, status FROM otp_verifications") == [(old.id, "pending")]
    assert await count(store, "messages") == 1
    assert await query(store, "SELECT bucket FROM rate_events") == [(full.bucket,)]


async def test_a_refused_verify_counts_no_attempt(store):
    otp = otp_store(store)
    v, _ = await issue(otp)
    limit = Limit(f"otp-verify:default:{TO}", 1, 600.0)
    assert await verify(otp, WRONG, limits=lambda v: [limit]) == VerifyOutcome("pending", 4, v.id)
    with pytest.raises(RateLimited):
        await verify(otp, limits=lambda v: [limit])
    assert await query(store, "SELECT attempts FROM otp_verifications") == [(1,)]
    assert await count(store, "rate_events") == 1


async def test_hit_counts_each_limit_or_none(store):
    otp = otp_store(store)
    now = time.time()
    roomy, tight = Limit("app-hour:shop", 100, 3600.0), Limit("sms-number:+4915112345678", 1, 3600.0)
    await otp.hit([roomy, tight], now)
    with pytest.raises(RateLimited) as refused:
        await otp.hit([roomy, tight], now + 10)
    assert refused.value.retry_after == pytest.approx(3590)
    assert await count(store, "rate_events") == 2
    await otp.hit([tight], now + 3601)


async def test_prune_drops_old_hits_and_codes_and_decayed_runs(store):
    otp = otp_store(store)
    now, keep = time.time(), 2 * 86400.0
    await otp.hit([Limit("old", 10, 60.0)], now - keep - 1)
    await otp.hit([Limit("recent", 10, 60.0)], now - keep + 60)
    await issue(otp, to="+4915112345600", now=now - keep - 400, ttl=300)       # expired before the horizon: goes
    await issue(otp, to="+4915112345601", now=now - keep - 200, ttl=300)       # expired after it: stays
    await issue(otp, to="+4915112345602", now=now - LOCK_DECAY - 100, ttl=300)
    await verify(otp, WRONG, to="+4915112345602", now=now - LOCK_DECAY - 50)   # a run that has decayed by now
    await issue(otp, now=now)
    await verify(otp, WRONG, now=now)                                          # a run that still counts
    await otp.prune(now, keep)
    assert await query(store, "SELECT bucket FROM rate_events") == [("recent",)]
    assert sorted(await query(store, "SELECT destination FROM otp_verifications")) == [
        ("+4915112345601",), ("+4915112345602",), (TO,)]
    assert await query(store, "SELECT destination FROM otp_failures") == [(TO,)]


# ---- several hosts on one PostgreSQL -----------------------------------------------------------------------------
async def hosts(stack: AsyncExitStack, pg, n: int = HOSTS) -> list:
    """n Stores on `pg`, each with its own pool, as n hosts would have (every table emptied first)."""
    return [await stack.enter_async_context(kit.open_pg_store(pg, node=f"host-{i}")) for i in range(n)]


async def test_a_code_issued_through_one_host_is_checked_through_another(pg):
    async with AsyncExitStack() as stack:
        a, b = await hosts(stack, pg, 2)
        v, message = await issue(otp_store(a))
        assert (await b.get(message.id)).state is State.QUEUED
        assert await verify(otp_store(b), WRONG) == VerifyOutcome("pending", 4, v.id)
        assert await verify(otp_store(b)) == VerifyOutcome("approved", None, v.id)
        assert await verify(otp_store(a)) == VerifyOutcome("not_found")


@pytest.mark.parametrize("by", ["number", "id"])
async def test_of_concurrent_right_codes_on_several_hosts_exactly_one_is_approved(pg, by):
    async with AsyncExitStack() as stack:
        stores = await hosts(stack, pg)
        otps = [otp_store(s) for s in stores]
        v, _ = await issue(otps[0])
        limit = Limit(f"otp-verify:default:{TO}", 1000, 600.0)        # counted too: its lock meets the row's
        outcomes = await asyncio.wait_for(asyncio.gather(*(
            verify(otps[i % HOSTS], vid=v.id if by == "id" else None, limits=lambda v: [limit])
            for i in range(MANY))), 120)
        assert sorted(o.status for o in outcomes) == ["approved"] + ["not_found"] * (MANY - 1)
        assert await count(stores[0], "otp_verifications") == 0
        # only the winner found a code to count against (a limit of 1000 is counted in time slots)
        assert (await query(stores[0], "SELECT coalesce(sum(n), 0) FROM rate_slots"))[0][0] == 1


async def test_an_older_code_stays_out_of_reach_when_the_latest_is_consumed_concurrently(pg):
    """Verifies waiting on the latest code's lock find it deleted and take the number's next older code: superseded,
    so not_found (as a verify after the approval would)."""
    async with AsyncExitStack() as stack:
        stores = await hosts(stack, pg)
        otps = [otp_store(s) for s in stores]
        now = time.time()
        await issue(otps[0], now=now - 10)
        v, _ = await issue(otps[1], now=now)
        outcomes = await asyncio.gather(*(verify(otps[i % HOSTS], now=now) for i in range(MANY)))
        assert sorted(o.status for o in outcomes) == ["approved"] + ["not_found"] * (MANY - 1)
        assert [o.verification_id for o in outcomes if o.status == "approved"] == [v.id]


async def test_concurrent_wrong_codes_on_several_hosts_are_each_counted(pg):
    async with AsyncExitStack() as stack:
        stores = await hosts(stack, pg)
        otps = [otp_store(s) for s in stores]
        v, _ = await issue(otps[0], max_attempts=MANY)
        limit = Limit(f"otp-verify:default:{TO}", 1000, 600.0)
        outcomes = await asyncio.wait_for(asyncio.gather(*(
            verify(otps[i % HOSTS], WRONG, limits=lambda v: [limit]) for i in range(MANY))), 120)
        assert sorted(o.attempts_left for o in outcomes) == list(range(MANY))        # no count lost nor repeated
        assert [o.status for o in outcomes].count("max_attempts_reached") == 1
        assert await query(stores[1], "SELECT attempts, status FROM otp_verifications") == [
            (MANY, "max_attempts_reached")]
        assert await query(stores[2], "SELECT consecutive FROM otp_failures") == [(MANY,)]
        assert await verify(otps[1]) == VerifyOutcome("max_attempts_reached", 0, v.id)


async def test_concurrent_resends_on_several_hosts_send_one_code(pg):
    """Sends to one number through every host at once, each asking for a resend: every one either resends the one
    pending code or was the first; never two codes pending."""
    async with AsyncExitStack() as stack:
        stores = await hosts(stack, pg)
        otps = [otp_store(s) for s in stores]
        now = time.time()
        first, _ = await issue(otps[0], now=now)
        pending = await asyncio.gather(*(issue(otps[i % HOSTS], now=now + 1, resend_until=now + 31)
                                         for i in range(10)))
        assert {p.id for p, _ in pending} == {first.id}
        sends = await asyncio.gather(*(otps[i % HOSTS].resend(first.id, sms(now=now + 1), [], now=now + 1,
                                                             valid_after=now + 31, app="default")
                                       for i in range(10)))
        assert sorted(sends) == list(range(2, 12))                                  # each send counted once
        assert await query(stores[1], "SELECT status, sends FROM otp_verifications") == [("pending", 11)]
        queued = await query(stores[2], "SELECT count(*) FROM messages WHERE state = 'queued'")
        assert queued == [(1,)]                                                     # one SMS of the code waits


async def test_concurrent_issues_on_several_hosts_leave_one_pending_code(pg):
    async with AsyncExitStack() as stack:
        stores = await hosts(stack, pg)
        otps = [otp_store(s) for s in stores]
        issued = await asyncio.gather(*(issue(otps[i % HOSTS]) for i in range(10)))
        statuses = dict(await query(stores[0], "SELECT id, status FROM otp_verifications"))
        assert sorted(statuses.values()) == ["pending"] + ["superseded"] * 9
        states = {m.id: (await stores[0].get(m.id)).state for _, m in issued}
        for v, message in issued:
            assert states[message.id] is (State.QUEUED if statuses[v.id] == "pending" else State.CANCELED)


async def test_codes_to_many_numbers_on_several_hosts_keep_a_large_limit_global(pg):
    """The country's and the app's large limits are leased to each host in blocks (store/postgres/leases.py): of
    sends spread over the hosts at once, never more than the cap is accepted, and once the hosts close, what is
    counted is what was sent. A send that found a code to resend counts nothing."""
    from modemd.store.postgres.limits import EXACT_UP_TO
    country = Limit("otp-country:DE", EXACT_UP_TO + 30, 86400.0)
    async with AsyncExitStack() as stack:
        stores = await hosts(stack, pg)
        otps = [otp_store(s) for s in stores]
        now = time.time()
        first, _ = await issue(otps[0], now=now, limits=[country])
        pending, _ = await issue(otps[1], now=now + 1, limits=[country], resend_until=now + 31)
        assert pending.id == first.id                                           # found: its hit given back

        async def send(i):
            try:
                await issue(otps[i % HOSTS], to=f"+49151123{i:05d}", now=now, limits=[country])
                return True
            except RateLimited:
                return False
        # Each host has sends enough to take the whole cap: none stops asking while it holds leased hits.
        accepted = 1 + sum(await asyncio.gather(*(send(i) for i in range(HOSTS * country.limit))))
        assert country.limit - 10 <= accepted <= country.limit
        assert await count(stores[0], "otp_verifications") == accepted
        for store in stores:
            await store.leases.close()
        slots = await query(stores[0], "SELECT coalesce(sum(n), 0) FROM rate_slots WHERE bucket = %s",
                            (country.bucket,))
        assert slots == [(accepted,)]
