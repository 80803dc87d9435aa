"""Webhooks against a real HTTP receiver on 127.0.0.1 (kit.Receiver) and a real store: the tests taking `store` run
on both backends (conftest's any_store: a SQLite file, then PostgreSQL), with the backend's own WebhookStore.

Events are made the way the daemon makes them (store transitions, expiry, inbox parts), so the dispatcher sees them
only through the durable logs, as in production. Signatures are checked with the functions docs/webhooks.md gives
receivers and with the Standard Webhooks spec's own library (`standardwebhooks`), the signing functions against the
spec's published vector, and the shell recipe from the same page is run once with openssl. What only PostgreSQL has
(several hosts capturing and delivering at once) is in test_postgres_webhooks.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import shutil
import subprocess
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from modemd.config.loader import SIGNATURE_SCHEMES, WebhookConfig
from modemd.store.sqlite.database import Database
from modemd.domain.sms import Kind, State, new_batch_id
from modemd.store import InboundPart, Store
from modemd.store.sqlite.schema import MIGRATIONS, WEBHOOKS
from modemd.services.webhooks import Backoff, WebhookDispatcher
from modemd.services.webhooks.payload import hook_key
from modemd.services.webhooks.signing import (SCHEMES, SIGNATURE_HEADER, SignedPost, modemd_headers,
                                              signature_headers, standard_headers)
from kit import (SECRET, Receiver, doc_blocks, open_store, outbound, record_store, until, verify_asg_signature,
                 verify_signature, verify_webhook)

NUMBER = "+447700900123"
FAST = Backoff(base=0.05, factor=2.0, cap=0.2, max_age=3600.0)
ALL = frozenset({"sms:received", "sms:sent", "sms:delivered", "sms:failed", "sms:expired"})


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def reopen(store, request, tmp_path):
    """reopen(): another Store on the database of `store` (the same host on PostgreSQL), as the daemon opens it
    after a restart; an async context manager."""
    if "postgres" not in type(store).__module__:
        return lambda: open_store(tmp_path / "modemd.db")

    @asynccontextmanager
    async def opened():
        from modemd.store.postgres.queue import Store as PgStore
        pg = request.getfixturevalue("pg")
        again = PgStore(pg.url, pg.password, store.node)
        await again.open()
        try:
            yield again
        finally:
            await again.close()
    return opened


@pytest.fixture
def receiving(store):
    """For the tests that receive SMS: skipped on a backend without an InboxStore yet."""
    try:
        record_store(store, "inbox")
    except ImportError:
        pytest.skip(f"{type(store).__module__} has no InboxStore yet")


def hook(receiver: Receiver, events=ALL, **kw) -> WebhookConfig:
    return WebhookConfig(url=receiver.url, events=frozenset(events), secret=receiver.secret, **kw)


def dispatcher(store: Store, hooks, **kw) -> WebhookDispatcher:
    kw.setdefault("backoff", FAST)
    return WebhookDispatcher(record_store(store, "webhooks")(store), hooks, poll_interval=0.05, stop_grace=0.5, **kw)


@asynccontextmanager
async def dispatching(store: Store, hooks, **kw):
    """A dispatcher, started, and stopped at the end."""
    d = dispatcher(store, hooks, **kw)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def captured(d: WebhookDispatcher):
    """A predicate for `until`: every committed event has been read into deliveries (the cursors are at the
    logs' heads)."""
    async def check():
        return not await d.wstore.behind()
    return check


def settled(d: WebhookDispatcher):
    """A predicate for `until`: everything captured and every delivery done or given up: nothing more will go."""
    async def check():
        return not await d.wstore.behind() and await d.pending_count() == 0
    return check


# ---- making events the way the daemon does -----------------------------------------------------------------------
async def enqueue(store: Store, *, kind=Kind.SMS, text="hello", deadline=None, to=NUMBER) -> str:
    sms = outbound(text, to=to, kind=kind, deadline=deadline)
    await store.enqueue(sms)
    return sms.id


async def send(store: Store, **kw) -> str:
    message_id = await enqueue(store, **kw)
    claimed = await store.claim_next("sim0")
    assert claimed.id == message_id
    assert await store.mark_sent(message_id, [7], purge_text=claimed.kind is Kind.OTP)
    return message_id


async def deliver(store: Store, message_id: str) -> None:
    assert await store.transition(message_id, (State.SENT,), State.DELIVERED, "delivery report",
                                  delivered_at=time.time())


async def receive(store: Store, text: str, sender: str = NUMBER, n: int = 1) -> str:
    inbox_id = f"in_{n}"
    part = InboundPart("sim0", sender, -1, 1, 1, text, time.time() - 5, time.time(), f"digest{n}")
    assert await record_store(store, "inbox")(store).add_part(part, inbox_id)
    return inbox_id


def types_of(events: list[dict], message_id: str) -> list[str]:
    return [e["type"] for e in events if e["data"].get("message_id") == message_id]


def sign(key: bytes, body: bytes, timestamp: int) -> str:
    """An X-Modemd-Signature value, as the worker makes it."""
    return modemd_headers([key], SignedPost("evt_1", timestamp, body))[SIGNATURE_HEADER]


def as_whsec(key: bytes) -> str:
    """How docs/webhooks.md has receivers hand a plain secret to a library that expects whsec_."""
    return "whsec_" + base64.b64encode(key).decode()


def library_verifies(key: str | bytes, request: dict) -> bool:
    """The spec's own Python library, on a request the receiver recorded."""
    try:
        Webhook(key).verify(request["body"], request["headers"])
    except WebhookVerificationError:
        return False
    return True


# ---- tests -------------------------------------------------------------------------------------------------------
async def test_every_event_type_arrives_signed_with_its_data(store, receiving, receiver):
    d = dispatcher(store, [hook(receiver)])
    await d.start()
    sent = await send(store)
    await deliver(store, sent)
    failed = await send(store)
    assert await store.mark_failed(failed, "SMSC rejected", error_code="CMS 42")
    expired = await enqueue(store, deadline=time.time() - 1)
    await store.expire_due()
    await receive(store, "Not me 🙅")
    d.wake()
    await until(lambda: len(receiver.accepted()) == 6)
    await d.stop()

    assert all(r["valid"] for r in receiver.requests)
    for r in receiver.requests:
        assert r["headers"]["X-Modemd-Event-Id"] == r["headers"]["webhook-id"] == r["event"]["id"]
        assert r["headers"]["X-Modemd-Event-Type"] == r["event"]["type"]
        assert r["headers"]["Content-Type"] == "application/json"
        assert r["headers"]["X-Modemd-Signature"].startswith(f"t={r['headers']['webhook-timestamp']},v1=")
        assert library_verifies(as_whsec(SECRET), r) and library_verifies(SECRET, r)
    events = receiver.accepted()
    assert types_of(events, sent) == ["sms:sent", "sms:delivered"]
    assert types_of(events, failed) == ["sms:sent", "sms:failed"]
    assert types_of(events, expired) == ["sms:expired"]
    by_type = {}
    for e in events:
        by_type.setdefault(e["type"], e)
        assert e["id"].startswith("evt_") and e["created_at"].endswith("Z")
    delivered = by_type["sms:delivered"]["data"]
    assert delivered["to"] == "+4477*****123" and delivered["status"] == "delivered"
    assert delivered["delivered_at"] and delivered["sent_at"] and delivered["modem"] == "sim0"
    assert "text" not in delivered
    assert [e for e in events if e["type"] == "sms:failed"][0]["data"]["error"] == {"code": "CMS 42",
                                                                                    "message": "SMSC rejected"}
    received = by_type["sms:received"]["data"]
    assert received["text"] == "Not me 🙅" and received["from"] == "+4477*****123" and received["complete"]
    assert received["inbox_id"] == "in_1" and received["sc_timestamp"]
    assert len({e["id"] for e in events}) == 6
    assert await d.pending_count() == 0


async def test_a_signature_is_checked_by_the_documented_recipes(tmp_path):
    body = b'{"id":"evt_1","type":"sms:sent"}'
    now = int(time.time())
    header = sign(SECRET, body, now)
    assert verify_signature(SECRET, body, header)
    assert not verify_signature(SECRET, body + b" ", header)
    assert not verify_signature(b"another-secret-0123456789", body, header)
    assert not verify_signature(SECRET, body, sign(SECRET, body, now - 301))
    assert not verify_signature(SECRET, body, "garbage")
    if shutil.which("openssl") is None:
        pytest.skip("no openssl")
    (tmp_path / "body.json").write_bytes(body)
    script = doc_blocks("sh")[0]
    for sig, expected in ((header, "valid"), (sign(b"wrong-secret-0123456789", body, now), "bad signature"),
                          (sign(SECRET, body, now - 400), "stale timestamp")):
        out = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "SECRET": SECRET.decode(), "SIG": sig})
        assert out.stdout.strip() == expected, out


# The spec's published vector: standard-webhooks, libraries/python/tests/test_webhooks.py, test_sign_function.
SPEC_KEY = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
SPEC_POST = SignedPost("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_standard_scheme_gives_the_specs_published_signature():
    assert standard_headers([SPEC_KEY], SPEC_POST) == {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                                       "webhook-timestamp": "1614265330",
                                                       "webhook-signature": SPEC_SIGNATURE}


def test_the_documented_standard_verifier_takes_the_spec_vector_and_refuses_the_rest():
    headers = standard_headers([SPEC_KEY], SPEC_POST)
    body, at = SPEC_POST.body, SPEC_POST.timestamp
    assert verify_webhook(SPEC_KEY, body, headers, now=at + 299)
    assert not verify_webhook(SPEC_KEY, body, headers, now=at + 301)                      # stale
    assert not verify_webhook(SPEC_KEY, body + b" ", headers, now=at)                     # body changed
    assert not verify_webhook(b"another-key-0123456789", body, headers, now=at)           # wrong key
    for name, value in (("webhook-id", "msg_other"), ("webhook-timestamp", str(at + 1)),
                        ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
                        ("webhook-signature", "v1a," + SPEC_SIGNATURE[3:]), ("webhook-timestamp", "1e9"),
                        ("webhook-signature", "v1,ünïcode")):
        assert not verify_webhook(SPEC_KEY, body, headers | {name: value}, now=at)
    for name in headers:
        assert not verify_webhook(SPEC_KEY, body, {k: v for k, v in headers.items() if k != name}, now=at)


def test_several_keys_sign_a_rotation_and_each_verifies():
    old, new = b"the-old-key-0123456789", bytes(range(32))
    post = SignedPost("evt_0123abcd", int(time.time()), b'{"id":"evt_0123abcd"}')
    standard = standard_headers([new, old], post)
    assert len(standard["webhook-signature"].split(" ")) == 2
    request = {"body": post.body, "headers": standard}
    assert library_verifies(as_whsec(new), request) and library_verifies(old, request)
    assert not library_verifies(as_whsec(b"a-third-key-0123456789"), request)
    assert verify_webhook(new, post.body, standard) and verify_webhook(old, post.body, standard)
    modemd = modemd_headers([new, old], post)[SIGNATURE_HEADER]
    assert modemd.count("v1=") == 2
    assert verify_signature(new, post.body, modemd) and verify_signature(old, post.body, modemd)
    assert not verify_signature(b"a-third-key-0123456789", post.body, modemd)


def test_each_configurable_scheme_signs_and_adds_only_its_own_headers():
    assert set(SCHEMES) == set(SIGNATURE_SCHEMES)
    post = SignedPost("evt_1", 1746100803, b"{}")
    assert signature_headers(["modemd"], [SECRET], post).keys() == {"X-Modemd-Signature"}
    assert signature_headers(["standard"], [SECRET], post).keys() == {"webhook-id", "webhook-timestamp",
                                                                       "webhook-signature"}
    both = signature_headers(["standard", "modemd"], [SECRET], post)
    assert both == modemd_headers([SECRET], post) | standard_headers([SECRET], post)
    assert signature_headers(["asg"], [SECRET], post).keys() == {"X-Signature", "X-Timestamp"}


def test_the_asg_scheme_is_the_apps_and_the_documented_verifier_checks_it():
    """SMS Gateway for Android signs body + timestamp (its PayloadSingingPlugin: `content.text + timestamp`, the
    key's bytes as written, hex); docs/webhooks.md's verify_asg_signature checks it, and nothing else."""
    now = int(time.time())
    post = SignedPost("evt_1", now, b'{"event":"sms:sent"}')
    headers = signature_headers(["asg"], [SECRET], post)
    assert headers == {"X-Timestamp": str(now),
                       "X-Signature": hmac.new(SECRET, post.body + str(now).encode(), hashlib.sha256).hexdigest()}
    assert verify_asg_signature(SECRET, post.body, headers)
    assert not verify_asg_signature(SECRET, post.body.replace(b"sent", b"failed"), headers)
    assert not verify_asg_signature(b"another-secret-0123456789", post.body, headers)
    stale = signature_headers(["asg"], [SECRET], SignedPost("evt_1", now - 301, post.body))
    assert not verify_asg_signature(SECRET, post.body, stale)
    assert not verify_asg_signature(SECRET, post.body, {"X-Signature": headers["X-Signature"]})


async def test_a_webhook_sends_the_signatures_it_names_and_the_library_verifies_them(store):
    modemd_only, standard_only = Receiver().start(), Receiver().start()
    d = dispatcher(store, [hook(modemd_only, {"sms:sent"}, signatures=("modemd",)),
                           hook(standard_only, {"sms:sent"}, signatures=("standard",))])
    await d.start()
    await send(store)
    d.wake()
    await until(lambda: modemd_only.accepted() and standard_only.accepted())
    await d.stop()
    modemd_only.stop()
    standard_only.stop()
    [plain], [standard] = modemd_only.requests, standard_only.requests
    assert plain["valid"] and standard["valid"]          # the documented code, for the headers each one carries
    assert "X-Modemd-Signature" in plain["headers"]
    assert not {"webhook-id", "webhook-timestamp", "webhook-signature"} & plain["headers"].keys()
    assert "X-Modemd-Signature" not in standard["headers"]
    assert library_verifies(as_whsec(SECRET), standard) and not library_verifies(as_whsec(SECRET), plain)
    assert not library_verifies(as_whsec(SECRET), {**standard, "body": standard["body"].replace(b"sent", b"sen7")})
    assert not library_verifies(as_whsec(b"not-the-webhooks-key-0123"), standard)


async def test_numbers_are_masked_unless_the_hook_asks_for_them_in_full(store, receiving, receiver):
    other = Receiver().start()
    d = dispatcher(store, [hook(receiver, {"sms:sent", "sms:received"}),
                           hook(other, {"sms:sent", "sms:received"}, full_numbers=True)])
    await d.start()
    await send(store)
    await receive(store, "hi")
    d.wake()
    await until(lambda: len(receiver.accepted()) == 2 and len(other.accepted()) == 2)
    await d.stop()
    other.stop()
    masked = {e["type"]: e["data"] for e in receiver.accepted()}
    full = {e["type"]: e["data"] for e in other.accepted()}
    assert masked["sms:sent"]["to"] == masked["sms:received"]["from"] == "+4477*****123"
    assert full["sms:sent"]["to"] == full["sms:received"]["from"] == NUMBER
    assert NUMBER.encode() not in b"".join(r["body"] for r in receiver.requests)


async def test_the_events_of_a_batchs_messages_name_their_batch(store, receiver):
    async with dispatching(store, [hook(receiver, {"sms:sent"})]) as d:
        single = await send(store)
        batch_id = new_batch_id()
        batch = [replace(outbound("hi", to=to), batch_id=batch_id) for to in (NUMBER, "+447700900124")]
        await store.enqueue_batch(batch)
        for _ in batch:
            claimed = await store.claim_next("sim0")
            assert await store.mark_sent(claimed.id, [8], purge_text=False)
        d.wake()
        await until(lambda: len(receiver.accepted()) == 3)
    sent = {e["data"]["message_id"]: e["data"] for e in receiver.accepted()}
    assert [sent[sms.id]["batch_id"] for sms in batch] == [batch_id, batch_id]
    assert "batch_id" not in sent[single]


async def test_an_otp_text_is_never_sent(store, receiver):
    d = dispatcher(store, [hook(receiver, full_numbers=True)])
    await d.start()
    otp = await enqueue(store, kind=Kind.OTP, text="Your code is 493817")
    await store.claim_next("sim0")
    assert await store.mark_failed(otp, "gave up", error_code="CMS 38")   # fails before sent: text not purged
    sent = await send(store, kind=Kind.OTP, text="Your code is 555019")
    await deliver(store, sent)
    d.wake()
    await until(lambda: len(receiver.accepted()) == 3)
    await d.stop()
    bodies = b"".join(r["body"] for r in receiver.requests)
    assert b"493817" not in bodies and b"555019" not in bodies and b'"text"' not in bodies
    assert {e["data"]["kind"] for e in receiver.accepted()} == {"otp"}


async def test_receiver_down_then_erroring_then_up_gets_every_event_in_order(store, receiving, receiver, caplog):
    caplog.set_level(logging.DEBUG, "modemd.services.webhooks")
    receiver.stop()                           # connection refused
    d = dispatcher(store, [hook(receiver)])
    await d.start()
    ids = []
    for i in range(5):
        ids.append(await send(store))
        if i % 2:
            await deliver(store, ids[-1])
        else:
            assert await store.mark_failed(ids[-1], "report: not obtainable", error_code="ST 67")
    await receive(store, "are you there?")
    d.wake()
    await until(lambda: _attempted(d, pending=True, n=3))
    # Back, but answering 500 to the first try of each event (having seen it: the retry is a repeat to drop).
    first_seen: set[str] = set()

    def flaky(event):
        if event["id"] in first_seen:
            return 200
        first_seen.add(event["id"])
        return 500
    receiver.answer = flaky
    receiver.start()
    await until(lambda: len(receiver.accepted()) == 11, timeout=15)
    await d.stop()

    assert all(r["valid"] for r in receiver.requests)
    assert len(receiver.requests) > 11        # repeats happened; ids made them harmless
    for r in receiver.requests:               # every attempt of an event carries that event's id, signed anew
        assert r["headers"]["webhook-id"] == r["event"]["id"] and library_verifies(as_whsec(SECRET), r)
    for i, message_id in enumerate(ids):
        second = "sms:delivered" if i % 2 else "sms:failed"
        assert types_of(receiver.accepted(), message_id) == ["sms:sent", second]
        # Order holds on the wire too: nothing of the second event before the first was acknowledged.
        wire = [r for r in receiver.requests if r["event"]["data"].get("message_id") == message_id]
        acked = next(k for k, r in enumerate(wire) if r["event"]["type"] == "sms:sent" and r["status"] == 200)
        assert all(r["event"]["type"] == "sms:sent" for r in wire[:acked + 1])
    assert await d.pending_count() == 0
    assert "failed (cannot connect" in caplog.text and "failed (HTTP 500)" in caplog.text
    assert "token=private" not in caplog.text and "/hooks/sms" not in caplog.text and "900123" not in caplog.text


def _attempted(d: WebhookDispatcher, *, pending: bool = False, n: int):
    """At least n deliveries (pending ones only, if `pending`) have been tried."""
    async def check():
        rows = await d.wstore.deliveries()
        return sum(r["attempts"] > 0 and (r["state"] == "pending" or not pending) for r in rows) >= n
    return check()


async def test_a_restart_loses_no_event_and_does_not_resend_acknowledged_ones(store, receiving, reopen, receiver):
    async with reopen() as store:
        async with dispatching(store, [hook(receiver)]) as d:
            first = await send(store)
            d.wake()
            await until(lambda: len(receiver.accepted()) == 1)
            receiver.stop()
            second = await send(store)
            await receive(store, "while the receiver was away")
            d.wake()
            await until(lambda: _attempted(d, n=2))
        # Events committed while no dispatcher runs (a crash right after the state change) are in the log too.
        await deliver(store, second)

    async with reopen() as store:
        await deliver(store, first)
        receiver.start()
        async with dispatching(store, [hook(receiver)]) as d:
            await until(lambda: len(receiver.accepted()) == 5)
            await until(settled(d))           # nothing more will come
    events = receiver.accepted()
    assert types_of(events, first) == ["sms:sent", "sms:delivered"]
    assert types_of(events, second) == ["sms:sent", "sms:delivered"]
    assert [e["data"]["text"] for e in events if e["type"] == "sms:received"] == ["while the receiver was away"]
    ids = [e["id"] for e in receiver.acknowledged()]
    assert len(ids) == len(set(ids)) == 5


async def test_a_slow_receiver_delays_neither_another_webhook_nor_other_messages(store, receiver):
    fast = Receiver().start()
    release, slow_id = threading.Event(), None

    def answer(event):
        if event["data"].get("message_id") == slow_id:
            release.wait(10)                  # held in flight until the test lets it go
        return 204
    receiver.answer = answer
    d = dispatcher(store, [hook(receiver, {"sms:sent"}, timeout=5), hook(fast, {"sms:sent"})])
    await d.start()
    slow_id = await send(store)
    d.wake()
    await until(lambda: receiver.requests)    # the slow POST is in flight
    others = [await send(store) for _ in range(3)]
    d.wake()
    await until(lambda: len(fast.accepted()) == 4 and len(receiver.accepted()) == 3)
    assert "status" not in receiver.requests[0]                 # all of that while the slow one was held
    assert {e["data"]["message_id"] for e in receiver.accepted()} == set(others)
    release.set()
    await until(lambda: len(receiver.accepted()) == 4)
    await d.stop()
    fast.stop()


async def test_removing_a_hook_drops_its_deliveries_and_keeping_one_keeps_them(store, receiver):
    gone, kept = Receiver(), Receiver(secret=b"new-secret-after-rotation-0123")
    gone_hook = WebhookConfig(url=gone.url, events=ALL, secret=SECRET)
    kept_hook = WebhookConfig(url=kept.url, events=ALL, secret=SECRET)
    d = dispatcher(store, [gone_hook, kept_hook])
    await d.start()
    await send(store)
    d.wake()
    await until(lambda: _pending(d, 2))
    rotated = WebhookConfig(url=kept.url, events=ALL, secret=b"new-secret-after-rotation-0123")
    assert hook_key(rotated) == hook_key(kept_hook)
    d.update_hooks([rotated])
    await until(lambda: _pending(d, 1))
    rows = await d.wstore.deliveries()
    assert {r["hook"] for r in rows} == {hook_key(kept_hook)}
    gone.start()
    kept.start()
    await until(lambda: len(kept.accepted()) == 1)
    await until(settled(d))                   # nothing more will go, to either
    await d.stop()
    assert gone.requests == []
    assert all(r["valid"] for r in kept.requests)          # signed with the new secret
    gone.stop()
    kept.stop()


def _pending(d: WebhookDispatcher, n: int):
    async def check():
        return await d.wstore.pending_count() == n
    return check()


async def test_a_delivery_is_given_up_after_max_age_and_the_next_one_goes(store, receiver):
    receiver.answer = lambda event: 500 if event["type"] == "sms:sent" else 200
    d = dispatcher(store, [hook(receiver)], backoff=Backoff(base=0.05, cap=0.1, max_age=0.5))
    await d.start()
    message_id = await send(store)
    await deliver(store, message_id)
    d.wake()
    await until(lambda: len(receiver.accepted()) == 1)
    await d.stop()
    assert types_of(receiver.accepted(), message_id) == ["sms:delivered"]
    states = {r["event_type"]: r["state"] for r in await d.wstore.deliveries()}
    assert states == {"sms:sent": "failed", "sms:delivered": "done"}
    attempts = [r for r in receiver.requests if r["event"]["type"] == "sms:sent"]
    assert len(attempts) >= 2
    # Events of the message never overlapped on the wire.
    assert max(r["done_at"] for r in attempts) <= min(r["at"] for r in receiver.requests
                                                      if r["event"]["type"] == "sms:delivered")


async def test_history_before_webhooks_existed_is_not_replayed(tmp_path, receiver):
    path = tmp_path / "modemd.db"
    db = Database(path)
    await db.open(MIGRATIONS[:MIGRATIONS.index(WEBHOOKS)])   # a database from before the webhook migration
    await db.write(lambda c: c.execute("INSERT INTO message_events (message_id, at, from_state, to_state) "
                                       "VALUES ('msg_old', 1.0, 'sending', 'sent')"))
    await db.close()
    async with open_store(path) as store, dispatching(store, [hook(receiver)]) as d:
        new = await send(store)
        d.wake()
        await until(lambda: len(receiver.accepted()) == 1)
        await until(settled(d))               # the old history would have been captured with it
    assert [e["data"]["message_id"] for e in receiver.accepted()] == [new]


async def test_events_are_captured_without_hooks_and_a_later_hook_gets_only_new_ones(store, receiver):
    d = dispatcher(store, [])
    await d.start()
    await send(store)
    d.wake()
    await until(captured(d))                  # the event was read, and made no delivery
    assert await d.pending_count() == 0
    d.update_hooks([hook(receiver)])
    later = await send(store)
    d.wake()
    await until(lambda: len(receiver.accepted()) == 1)
    await d.stop()
    assert receiver.accepted()[0]["data"]["message_id"] == later
