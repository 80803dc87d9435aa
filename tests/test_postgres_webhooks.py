"""Webhooks with several hosts on one PostgreSQL database (store/postgres/webhooks.py), against a real server: events
committed out of id order are all captured, hosts capturing at once make each delivery once and in order per
message, due() hands a delivery to one host at a time and never the second event of a message while another host
holds the first, a dead host's claims come back after their lease, and events gone before capture are skipped.
The behaviour both backends share is in test_webhook.py."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import pytest

import kit
from kit import Receiver, open_pg_store, outbound, until
from modemd.config.loader import WebhookConfig
from modemd.domain.sms import State
from modemd.services.webhooks import Backoff, WebhookDispatcher
from modemd.services.webhooks.payload import hook_key, render
from modemd.store import HookSpec
from modemd.store.records import STATE_EVENTS

psycopg = pytest.importorskip("psycopg")

from modemd.store.postgres import Database                        # noqa: E402
from modemd.store.postgres.queue import Store                    # noqa: E402
from modemd.store.postgres.schema import MIGRATIONS               # noqa: E402
from modemd.store.postgres.transitions import move                # noqa: E402
from modemd.store.postgres.webhooks import CAPTURE_LOCK, LEASE, LOCK_CLASS, WebhookStore  # noqa: E402

ALL = frozenset({"sms:received", "sms:sent", "sms:delivered", "sms:failed", "sms:expired"})
HOOK = HookSpec("hook-1", ALL)


@pytest.fixture
async def host_a(pg):
    async with open_pg_store(pg, node="host-a") as store:
        yield store


@pytest.fixture
async def host_b(pg, host_a):
    """A second host on the same database (opened after host_a emptied it, not emptying it again)."""
    async with another_host(pg, "host-b") as store:
        yield store


@asynccontextmanager
async def another_host(pg, node: str):
    store = Store(pg.url, pg.password, node)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def claimed(store: Store) -> str:
    """A message claimed for sending (the next move is sending -> sent)."""
    sms = outbound()
    await store.enqueue(sms)
    assert (await store.claim_next("sim0")).id == sms.id
    return sms.id


async def sent(store: Store) -> str:
    message_id = await claimed(store)
    assert await store.mark_sent(message_id, [7], purge_text=False)
    return message_id


async def delivered(store: Store, message_id: str) -> None:
    assert await store.transition(message_id, (State.SENT,), State.DELIVERED, "delivery report",
                                  delivered_at=time.time())


async def capture_all(wstore: WebhookStore, hooks=(HOOK,)) -> int:
    created, more = 0, True
    while more:
        n, more = await wstore.capture(lambda: list(hooks), render, time.time())
        created += n
    return created


async def sql(store: Store, query: str, params=()) -> list[tuple]:
    async def work(conn):
        cursor = await conn.execute(query, params)
        return await cursor.fetchall() if cursor.description else []
    return await store.db.write(work)


def order_holds(rows: list[dict]) -> bool:
    """Every message's sms:sent delivery has a lower seq than its next event's, per hook."""
    first: dict[tuple[str, str], int] = {}
    for row in sorted(rows, key=lambda r: r["seq"]):
        key = (row["hook"], row["subject"])
        if row["event_type"] == "sms:sent":
            first[key] = row["seq"]
        elif key not in first:
            return False
    return True


# ---- capture -------------------------------------------------------------------------------------------------
async def test_events_committed_out_of_id_order_are_all_captured(host_a):
    wstore = WebhookStore(host_a)
    early, late = await claimed(host_a), await claimed(host_a)
    slow = await host_a.db.connect()
    try:
        async with slow.transaction():
            # The slower transaction logs its event first (the lower rowid) and commits last.
            assert await move(slow, early, State.SENDING, State.SENT, "sent", time.time())
            assert await sent_now(host_a, late)
            assert await capture_all(wstore) == 1
            assert not await wstore.behind()
        assert await wstore.behind()
        assert await capture_all(wstore) == 1
    finally:
        await slow.close()
    rows = await sql(host_a, "SELECT message_id, rowid FROM message_events WHERE to_state = 'sent' ORDER BY rowid")
    assert [r[0] for r in rows] == [early, late]            # the premise: the lower id committed later
    assert [(r["subject"], r["event_type"]) for r in await wstore.deliveries()] == [(late, "sms:sent"),
                                                                                   (early, "sms:sent")]
    assert not await wstore.behind()


async def sent_now(store: Store, message_id: str) -> bool:
    return await store.db.write(lambda conn: move(conn, message_id, State.SENDING, State.SENT, "sent", time.time()))


async def test_only_the_moves_webhooks_announce_and_every_received_sms_go_to_the_backlog(host_a):
    for state in State:
        await sql(host_a, "INSERT INTO message_events (message_id, at, from_state, to_state) VALUES "
                          "(%s, 1.0, NULL, %s)", (f"msg_{state.value}", state.value))
    await sql(host_a, "INSERT INTO inbox (id, modem, sender, text, parts, complete, received_at) VALUES "
                      "('in_1', 'sim0', '+15550100', 'hi', 1, 1, 1.0)")
    rows = await sql(host_a, "SELECT b.source, coalesce(e.to_state, i.id) FROM webhook_backlog b LEFT JOIN "
                             "message_events e ON b.source = 'message_events' AND e.rowid = b.ref LEFT JOIN inbox i "
                             "ON b.source = 'inbox' AND i.seq = b.ref ORDER BY b.id")
    assert rows == [("message_events", s) for s in (s.value for s in State) if s in STATE_EVENTS] + \
        [("inbox", "in_1")]


async def test_events_deleted_before_capture_are_skipped(host_a):
    wstore = WebhookStore(host_a)
    gone, kept = await sent(host_a), await sent(host_a)
    await sql(host_a, "INSERT INTO inbox (id, modem, sender, text, parts, complete, received_at) VALUES "
                      "('in_gone', 'sim0', '+15550100', 'hi', 1, 1, 1.0), ('in_kept', 'sim0', '+15550100', 'hi', 1, "
                      "1, 2.0)")
    # Retention removed these before a capture ran (the message row too, for `kept`: its event is still announced).
    await sql(host_a, "DELETE FROM message_events WHERE message_id = %s", (gone,))
    await sql(host_a, "DELETE FROM messages WHERE id = %s", (kept,))
    await sql(host_a, "DELETE FROM inbox WHERE id = 'in_gone'")
    assert await capture_all(wstore) == 2
    assert {(r["subject"], r["event_type"]) for r in await wstore.deliveries()} == {(kept, "sms:sent"),
                                                                                   ("in_kept", "sms:received")}
    assert not await wstore.behind() and await sql(host_a, "SELECT count(*) FROM webhook_backlog") == [(0,)]


async def test_two_hosts_capturing_at_once_make_each_delivery_once_in_order(host_a, host_b):
    hooks = (HOOK, HookSpec("hook-2", frozenset({"sms:sent", "sms:delivered"})))
    wa, wb = WebhookStore(host_a), WebhookStore(host_b)
    done = asyncio.Event()
    created = {"host-a": 0, "host-b": 0}

    async def capturing(wstore):
        while True:
            finished = done.is_set()        # read first: the events made before it was set are captured after
            created[wstore.node] += await capture_all(wstore, hooks)
            if finished:
                return
            await asyncio.sleep(0)

    async def making():
        ids = []
        for _ in range(60):
            ids.append(await sent(host_a))
            if len(ids) % 2 == 0:
                await delivered(host_a, ids[-2])
        done.set()
        return ids

    ids, *_ = await asyncio.gather(making(), capturing(wa), capturing(wb))
    rows = await wa.deliveries()
    assert len(rows) == created["host-a"] + created["host-b"] == 2 * (60 + 30)
    assert len({(r["hook"], r["event_id"]) for r in rows}) == len(rows)
    assert {r["subject"] for r in rows} == set(ids)
    assert order_holds(rows)
    assert not await wa.behind() and not await wb.behind()


async def test_one_host_captures_at_a_time(host_a, host_b):
    await sent(host_a)
    other = await host_a.db.connect()
    try:
        async with other.transaction():     # another host's capture, in progress
            await other.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, CAPTURE_LOCK))
            capturing = asyncio.create_task(capture_all(WebhookStore(host_b)))
            await until(lambda: _waiting_for_a_lock(host_a))
            assert not capturing.done()
        assert await capturing == 1
    finally:
        await other.close()


async def _waiting_for_a_lock(store: Store) -> bool:
    return await sql(store, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == [(1,)]


# ---- claims --------------------------------------------------------------------------------------------------
async def test_due_on_two_hosts_at_once_never_hands_out_one_delivery_twice(host_a, host_b):
    wa, wb = WebhookStore(host_a), WebhookStore(host_b)
    for _ in range(40):
        await delivered(host_a, await sent(host_a))
    await capture_all(wa)
    log: list[tuple] = []           # (what, host, delivery): in the order the hosts did them
    held: dict[int, str] = {}

    async def worker(wstore):           # one per host, as a dispatcher has one per webhook
        while await wstore.pending_count():
            mine = {seq for seq, node in held.items() if node == wstore.node}
            for d in await wstore.due(HOOK.key, time.time(), 3, mine):
                assert d.seq not in held, f"delivery {d.seq} handed to {wstore.node} while {held[d.seq]} holds it"
                held[d.seq] = wstore.node
                log.append(("out", wstore.node, d))
            await asyncio.sleep(0)
            for seq in [seq for seq, node in held.items() if node == wstore.node]:
                log.append(("done", wstore.node, seq))      # from here on the next one of its message may go
                del held[seq]
                await wstore.mark_done(seq, time.time())

    await asyncio.gather(worker(wa), worker(wb))
    out = [(node, d) for what, node, d in log if what == "out"]
    assert len(out) == len({d.seq for _, d in out}) == 80
    assert {node for node, _ in out} == {"host-a", "host-b"}
    for k, (_, d) in enumerate(out):
        if d.event_type == "sms:delivered":
            first = next(i for i, (w, n, s) in enumerate(log) if w == "done" and
                         next(x for _, x in out if x.seq == s).subject == d.subject)
            assert first < log.index(("out", out[k][0], d)), f"{d.subject}: delivered handed out before sent done"
    rows = await wa.deliveries()
    assert all(r["state"] == "done" and r["attempts"] == 1 and r["lease_until"] is None for r in rows)


async def test_the_next_event_of_a_message_waits_while_another_host_holds_the_first(host_a, host_b):
    wa, wb = WebhookStore(host_a), WebhookStore(host_b)
    message_id = await sent(host_a)
    await delivered(host_a, message_id)
    await capture_all(wa)
    now = time.time()
    [first] = await wa.due(HOOK.key, now, 10, set())
    assert first.event_type == "sms:sent"
    assert await wb.due(HOOK.key, now, 10, set()) == []             # held by host-a; the second waits behind it
    await wa.mark_retry(first.seq, now - 1, "HTTP 500")             # due again, at once: anyone's now
    [again] = await wb.due(HOOK.key, now, 10, set())
    assert again.seq == first.seq and again.attempts == 1
    assert await wa.due(HOOK.key, now, 10, set()) == []
    await wb.mark_done(again.seq, now)
    [second] = await wa.due(HOOK.key, now, 10, set())
    assert second.event_type == "sms:delivered"
    rows = {r["event_type"]: r for r in await wa.deliveries()}
    assert (rows["sms:sent"]["node"], rows["sms:sent"]["state"]) == ("host-b", "done")
    assert (rows["sms:delivered"]["node"], rows["sms:delivered"]["lease_until"]) == ("host-a", now + LEASE)


async def test_a_dead_hosts_claims_come_back_after_their_lease(pg, host_a, host_b):
    wa, wb = WebhookStore(host_a), WebhookStore(host_b)
    await sent(host_a)
    await capture_all(wa)
    now = time.time()
    [held] = await wa.due(HOOK.key, now, 10, set())                 # host-a dies while POSTing it
    assert await wb.due(HOOK.key, now + LEASE - 1, 10, set()) == []
    assert await wb.next_due_at(HOOK.key) == now + LEASE
    [back] = await wb.due(HOOK.key, now + LEASE, 10, set())
    assert back.seq == held.seq
    # host-a's late outcome: a failure is not its to record any more; a 2xx is (the receiver has the event).
    await wa.mark_retry(held.seq, now + 5, "timed out")
    [row] = await wa.deliveries()
    assert (row["node"], row["attempts"], row["lease_until"]) == ("host-b", 0, now + LEASE + LEASE)
    await wa.mark_done(held.seq, now + LEASE)
    [row] = await wa.deliveries()
    assert (row["state"], row["node"], row["lease_until"]) == ("done", "host-a", None)


async def test_a_host_takes_back_its_own_claims_at_once_after_a_restart(pg, host_a):
    await sent(host_a)
    await capture_all(WebhookStore(host_a))
    now = time.time()
    [held] = await WebhookStore(host_a).due(HOOK.key, now, 10, set())
    assert await WebhookStore(host_a).due(HOOK.key, now, 10, {held.seq}) == []     # in flight: skipped
    async with another_host(pg, "host-a") as restarted:
        [again] = await WebhookStore(restarted).due(HOOK.key, now + 1, 10, set())
    assert again.seq == held.seq


# ---- whole dispatchers -------------------------------------------------------------------------------------------
async def test_two_hosts_dispatching_post_each_event_once_in_order_and_one_carries_on_alone(host_a, host_b):
    receiver = Receiver().start()
    config = [WebhookConfig(url=receiver.url, events=ALL, secret=receiver.secret)]
    fast = Backoff(base=0.05, factor=2.0, cap=0.2, max_age=3600.0)
    da, db = (WebhookDispatcher(WebhookStore(s), config, poll_interval=0.05, stop_grace=0.5, backoff=fast)
              for s in (host_a, host_b))
    await da.start()
    await db.start()
    try:
        ids = []
        for _ in range(20):
            ids.append(await sent(host_a))
            await delivered(host_a, ids[-1])
        da.wake()
        db.wake()
        await until(lambda: len(receiver.accepted()) == 40)
        await db.stop()                     # host-b goes away; host-a carries on alone
        later = await sent(host_a)
        da.wake()
        await until(lambda: len(receiver.accepted()) == 41)
        await until(lambda: _settled(da))
    finally:
        await da.stop()
        await db.stop()
        receiver.stop()
    events = receiver.accepted()
    assert len({e["id"] for e in events}) == len(receiver.requests) == 41
    for message_id in ids:
        assert [e["type"] for e in events if e["data"]["message_id"] == message_id] == ["sms:sent", "sms:delivered"]
    assert events[-1]["data"]["message_id"] == later
    nodes = {r["node"] for r in await da.wstore.deliveries(hook_key(config[0]))}
    assert nodes <= {"host-a", "host-b"} and "host-a" in nodes


async def _settled(d: WebhookDispatcher) -> bool:
    return not await d.wstore.behind() and await d.pending_count() == 0


# ---- upgrades ----------------------------------------------------------------------------------------------------
async def test_history_from_before_the_backlog_is_not_replayed(pg):
    async with open_pg_store(pg):
        pass                                # every table empty, then the database from before version 3:
    await sql_on(pg, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    db = Database(pg.url, pg.password)
    await db.open(MIGRATIONS[:2])
    await db.write(lambda c: c.execute("INSERT INTO message_events (message_id, at, from_state, to_state) "
                                       "VALUES ('msg_old', 1.0, 'sending', 'sent')"))
    await db.close()
    async with another_host(pg, "host-a") as store:
        wstore = WebhookStore(store)
        assert not await wstore.behind()
        new = await sent(store)
        assert await capture_all(wstore) == 1
        assert [r["subject"] for r in await wstore.deliveries()] == [new]
        await kit.empty_pg(store)


async def sql_on(pg, query: str) -> None:
    conn = await psycopg.AsyncConnection.connect(pg.url, password=pg.password, autocommit=True)
    async with conn:
        await conn.execute(query.encode())
