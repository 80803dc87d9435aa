"""The durable queue's store: transitions, ordering, idempotency, crash recovery. The tests taking `store` run on both
backends (a real SQLite file in WAL mode, and a real PostgreSQL: conftest's any_store); `sqlite_store` ones are about
the SQLite file itself."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time

import pytest

import kit

from modemd.domain.sms import OutboundSms, Priority, State, new_message_id
from modemd.store.sqlite.schema import MIGRATIONS
from modemd.store import IDEMPOTENCY_WINDOW
from modemd.store.sqlite.queue import Store


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
async def sqlite_store(tmp_path):
    async with kit.open_store(tmp_path / "modemd.db") as s:
        yield s


def make(text="hi", *, priority=Priority.NORMAL, deadline=None, key=None, now=None, due=None) -> OutboundSms:
    now = time.time() if now is None else now
    return OutboundSms(id=new_message_id(now), to="+4915112345678", text=text, parts=1, priority=priority,
                       next_attempt_at=now if due is None else due, deadline=deadline, created_at=now,
                       updated_at=now, idempotency_key=key)


async def test_file_is_private_and_in_wal_mode(sqlite_store):
    mode = stat.S_IMODE(os.stat(sqlite_store.path).st_mode)
    assert mode == 0o600
    conn = sqlite3.connect(sqlite_store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()


async def test_an_accepted_message_is_on_disk_when_enqueue_returns(sqlite_store):
    sms = make("durable")
    await sqlite_store.enqueue(sms)
    conn = sqlite3.connect(sqlite_store.path)   # an independent connection sees it: committed, not cached
    assert conn.execute("SELECT body, state FROM messages WHERE id = ?", (sms.id,)).fetchone() == ("durable",
                                                                                                   "queued")
    conn.close()


async def test_concurrent_enqueues_are_all_committed(store):
    messages = [make(f"m{i}") for i in range(500)]
    results = await asyncio.gather(*(store.enqueue(m) for m in messages))
    assert all(r.created for r in results)
    assert (await store.counts()) == {"queued": 500}


async def test_high_priority_is_claimed_before_older_normal_messages(store):
    now = time.time()
    bulk = [make(f"bulk{i}", now=now - 10 + i) for i in range(5)]
    for m in bulk:
        await store.enqueue(m)
    otp = make("otp", priority=Priority.HIGH)
    await store.enqueue(otp)
    first = await store.claim_next("m0")
    second = await store.claim_next("m0")
    assert first.id == otp.id and first.state is State.SENDING and first.attempts == 1
    assert second.id == bulk[0].id


async def test_a_message_is_claimed_once(store):
    await store.enqueue(make())
    claims = await asyncio.gather(*(store.claim_next(f"m{i}") for i in range(4)))
    assert sum(c is not None for c in claims) == 1


async def test_not_due_messages_wait(store):
    now = time.time()
    await store.enqueue(make(due=now + 60))
    assert await store.claim_next("m0", now) is None
    assert (await store.claim_next("m0", now + 61)) is not None


async def test_compare_and_set_refuses_a_stale_transition(store):
    sms = make()
    await store.enqueue(sms)
    await store.claim_next("m0")
    assert await store.mark_sent(sms.id, [7], purge_text=False)
    assert not await store.mark_sent(sms.id, [8], purge_text=False)
    assert not await store.cancel(sms.id)
    got = await store.get(sms.id)
    assert got.state is State.SENT and got.references == [7]
    assert [e["to_state"] for e in await store.events(sms.id)] == ["queued", "sending", "sent"]


async def test_retry_refund_and_failure(store):
    sms = make()
    await store.enqueue(sms)
    await store.claim_next("m0")
    assert await store.mark_retry(sms.id, time.time(), "modem gone", refund_attempt=True)
    assert (await store.get(sms.id)).attempts == 0
    await store.claim_next("m0")
    assert await store.mark_failed(sms.id, "unassigned number", error_code="CMS 1", purge_text=True)
    got = await store.get(sms.id)
    assert got.state is State.FAILED and got.error_code == "CMS 1" and got.text is None


async def test_expired_messages_are_never_claimed(store):
    now = time.time()
    late = make("late otp", deadline=now - 1)
    await store.enqueue(late)
    assert await store.claim_next("m0", now) is None
    assert await store.expire_due(now) == [late.id]
    got = await store.get(late.id)
    assert got.state is State.EXPIRED and got.text is None


async def test_idempotency_key_returns_the_first_message_within_24h(store):
    now = time.time()
    first = await store.enqueue(make("one", key="k1", now=now))
    again = await store.enqueue(make("two", key="k1", now=now + 60))
    assert first.created and not again.created and again.message.id == first.message.id
    later = await store.enqueue(make("three", key="k1", now=now + IDEMPOTENCY_WINDOW + 1))
    assert later.created and later.message.id != first.message.id


async def test_interrupted_sends_are_requeued_as_possible_duplicates(store):
    a, b = make("a"), make("b")
    await store.enqueue(b)
    for _ in range(2):                      # b has used two attempts already
        await store.claim_next("m0")
        await store.mark_retry(b.id, 0, "busy")
    await store.claim_next("m0")            # b's third attempt is in flight
    await store.enqueue(a)
    await store.claim_next("m0")            # a's first
    recovered = await store.recover_interrupted(max_attempts=3, max_ambiguous=1)
    assert set(recovered) == {a.id, b.id}
    got_a, got_b = await store.get(a.id), await store.get(b.id)
    assert got_a.state is State.QUEUED and got_a.possible_duplicate
    assert got_b.state is State.FAILED and got_b.error_code == "interrupted"
    await store.claim_next("m0")            # a's resend is interrupted too: its one ambiguous resend is used up
    assert await store.recover_interrupted(max_attempts=3, max_ambiguous=1) == [a.id]
    assert (await store.get(a.id)).state is State.FAILED


async def test_reopen_keeps_everything(tmp_path):
    s = Store(tmp_path / "q.db")
    await s.open()
    sms = make("survives")
    await s.enqueue(sms)
    await s.close()
    s2 = Store(tmp_path / "q.db")
    await s2.open()
    try:
        assert (await s2.get(sms.id)).text == "survives"
    finally:
        await s2.close()


async def test_list_pages_newest_first(store):
    ids = []
    for i in range(7):
        m = make(f"m{i}")
        ids.append(m.id)
        await store.enqueue(m)
    page1 = await store.list(limit=3)
    page2 = await store.list(limit=3, after=page1[-1].id)
    assert [m.id for m in page1 + page2] == list(reversed(ids))[:6]
    assert [m.id for m in await store.list(state=State.SENT)] == []


async def test_the_counters_match_a_count_of_the_rows(store):
    """message_counts (kept by triggers) against a count of the rows, after every kind of change."""
    from modemd.domain.sms import Kind
    now = 1_700_000_000.0
    for i in range(6):
        await store.enqueue(OutboundSms(id=f"msg_{i}", to="+4915112345678", text="x", parts=1,
                                        kind=Kind.OTP if i % 2 else Kind.SMS, next_attempt_at=now,
                                        created_at=now, updated_at=now, deadline=now + 10 if i == 5 else None))
    claimed = await store.claim_next("m0", now=now)
    await store.mark_sent(claimed.id, [1], purge_text=False)
    await store.cancel("msg_1")
    await store.expire_due(now=now + 60)
    await _delete_row(store, "msg_2")
    counted = await store.counts()
    truth: dict[str, int] = {}
    for message in await store.list(limit=100):
        truth[message.state.value] = truth.get(message.state.value, 0) + 1
    assert counted == truth and counted[State.QUEUED.value] == 2, (counted, truth)


async def _delete_row(store, message_id: str) -> None:
    """A row deleted behind the queue's back (as retention does), in the backend's own SQL."""
    if isinstance(store, Store):
        await store.db.write(lambda conn: conn.execute("DELETE FROM messages WHERE id = ?", (message_id,)))
    else:
        await store.db.write(lambda conn: conn.execute("DELETE FROM messages WHERE id = %s", (message_id,)))


async def test_an_otp_failed_by_crash_recovery_loses_its_text(store):
    from modemd.domain.sms import Kind
    now = 1_700_000_000.0
    for kind in (Kind.OTP, Kind.SMS):
        await store.enqueue(OutboundSms(id=f"msg_{kind.value}", to="+4915112345678", text="123456 is your code",
                                        parts=1, kind=kind, next_attempt_at=now, created_at=now, updated_at=now))
        await store.claim_next("m0", now=now)                        # then the process dies mid-send
    assert sorted(await store.recover_interrupted(max_attempts=1, max_ambiguous=1)) == ["msg_otp", "msg_sms"]
    assert (await store.get("msg_otp")).text is None
    assert (await store.get("msg_sms")).text == "123456 is your code"   # plain SMS keep theirs (retention)


# ---- the one gate for state (store/sqlite/transitions.py) ----------------------------------------------------------
def _sql_strings(path) -> list[str]:
    """Every string literal of a module, adjacent literals and f-strings joined as Python joins them ({} for a
    placeholder): the SQL statements, whole, however the source wraps them."""
    import ast
    nodes = list(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
    pieces = {id(v) for node in nodes if isinstance(node, ast.JoinedStr) for v in node.values}
    texts = []
    for node in nodes:
        if isinstance(node, ast.JoinedStr):
            texts.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in pieces:
            texts.append(node.value)
    return texts


def test_one_statement_per_backend_writes_the_state_of_a_message():
    import re
    from pathlib import Path
    package = Path(__file__).resolve().parent.parent / "modemd"
    writers = []
    for path in sorted(package.rglob("*.py")):
        for text in _sql_strings(path):
            for match in re.finditer(r"\bUPDATE\s+(?:OR\s+\w+\s+)?messages\s+SET\b(.*?)(?:\bWHERE\b|$)", text,
                                     re.I | re.S):
                if re.search(r"\bstate\s*=", match.group(1), re.I):
                    writers.append(str(path.relative_to(package)))
            assert not re.search(r"\b(?:REPLACE|INSERT\s+OR\s+REPLACE)\s+INTO\s+messages\b", text, re.I), path
    # one gate per backend, each its backend's only writer of the column
    assert writers == ["store/postgres/transitions.py", "store/sqlite/transitions.py"], writers


async def test_the_gate_refuses_a_move_the_transition_table_does_not_have(sqlite_store):
    from modemd.store.sqlite.transitions import move
    sms = make()
    await sqlite_store.enqueue(sms)
    for src, dst in ((State.QUEUED, State.SENT), (State.DELIVERED, State.QUEUED), (State.EXPIRED, State.QUEUED)):
        try:
            await sqlite_store.db.write(lambda conn: move(conn, sms.id, src, dst, "no", time.time()))
        except ValueError:
            continue
        raise AssertionError(f"{src.value} -> {dst.value} was allowed")
    assert (await sqlite_store.get(sms.id)).state is State.QUEUED
    assert [e["to_state"] for e in await sqlite_store.events(sms.id)] == ["queued"]


async def test_a_stale_move_changes_nothing_and_logs_nothing(sqlite_store):
    from modemd.store.sqlite.transitions import move
    sms = make()
    await sqlite_store.enqueue(sms)
    # The message is queued, not sending: the compare-and-set finds no row.
    assert await sqlite_store.db.write(lambda conn: move(conn, sms.id, State.SENDING, State.SENT, "sent", 1.0)) is None
    assert await sqlite_store.db.write(lambda conn: move(conn, "msg_none", State.QUEUED, State.SENDING, "x", 1.0)) is None
    assert [e["to_state"] for e in await sqlite_store.events(sms.id)] == ["queued"]


async def test_each_move_writes_its_event_in_the_same_transaction(sqlite_store):
    from modemd.store.sqlite.transitions import move
    sms = make()
    await sqlite_store.enqueue(sms)

    def moved_then_failed(conn):
        move(conn, sms.id, State.QUEUED, State.CANCELED, "canceled", time.time())
        raise RuntimeError("the request fails after the move")
    try:
        await sqlite_store.db.write(moved_then_failed)
    except RuntimeError:
        pass
    assert (await sqlite_store.get(sms.id)).state is State.QUEUED
    assert [e["to_state"] for e in await sqlite_store.events(sms.id)] == ["queued"]
    assert await sqlite_store.cancel(sms.id)
    assert [(e["from_state"], e["to_state"], e["reason"]) for e in await sqlite_store.events(sms.id)] == [
        (None, "queued", "accepted"), ("queued", "canceled", "canceled by client")]


async def test_expiry_and_recovery_log_each_message_they_move(store):
    now = time.time()
    late, busy = make("late", deadline=now - 1), make("busy")
    await store.enqueue(busy)
    await store.claim_next("m0")
    await store.enqueue(late)
    assert await store.expire_due(now) == [late.id]
    assert await store.recover_interrupted(max_attempts=3, max_ambiguous=1) == [busy.id]
    assert [(e["from_state"], e["to_state"], e["reason"]) for e in (await store.events(late.id))[1:]] == [
        ("queued", "expired", "deadline passed")]
    assert [(e["from_state"], e["to_state"]) for e in (await store.events(busy.id))[1:]] == [
        ("queued", "sending"), ("sending", "queued")]
    got = await store.get(busy.id)
    assert got.possible_duplicate and got.ambiguous == 1 and got.attempts == 1


async def test_a_superseded_otp_message_is_canceled_through_the_gate_with_its_event(sqlite_store):
    from modemd.domain.sms import Kind
    from modemd.store import Verification
    from modemd.store.sqlite.otp import OtpStore
    otp = OtpStore(sqlite_store)
    now = time.time()
    ids = []
    for n in range(2):
        sms = OutboundSms(id=new_message_id(now + n), to="+4915112345678", text=f"code {n}", parts=1, kind=Kind.OTP,
                          priority=Priority.HIGH, next_attempt_at=now, deadline=now + 300, created_at=now + n,
                          updated_at=now + n)
        await otp.issue(Verification(f"v{n}", sms.to, b"h", now + n, now + 300, 0, 5, "pending", sms.id), sms, [])
        ids.append(sms.id)
    first = await sqlite_store.get(ids[0])
    assert first.state is State.CANCELED and first.text is None and first.error_text == "superseded by a newer code"
    assert [(e["from_state"], e["to_state"], e["reason"]) for e in await sqlite_store.events(ids[0])] == [
        (None, "queued", "accepted"), ("queued", "canceled", "superseded by a newer code")]
    assert (await sqlite_store.get(ids[1])).state is State.QUEUED
    # Webhooks read the event log: a cancel is not an event they announce, so the new row sends nothing.
    from modemd.store import HookSpec
    from modemd.store.sqlite.webhooks import WebhookStore
    every = HookSpec("all", frozenset({"sms:sent", "sms:delivered", "sms:failed", "sms:expired", "sms:received"}))
    await sqlite_store.db.write(lambda conn: conn.execute("UPDATE webhook_cursors SET position = 0"))
    assert await WebhookStore(sqlite_store).capture(lambda: [every], lambda e, h: ("evt", "{}"), now) == (0, False)


# ---- the interface (modemd/store/interface.py) and each backend's classes ------------------------------------------
def _shape(function) -> list[tuple]:
    import inspect
    shape = []
    for p in inspect.signature(function).parameters.values():
        default = p.default if p.default is inspect.Parameter.empty or not callable(p.default) else "a function"
        shape.append((p.name, p.kind, default))
    return shape


def test_the_sqlite_classes_offer_what_the_interface_declares():
    """Each method of the Protocols, by name, with the same parameters (names, kinds, defaults), as a coroutine."""
    import modemd.store as interface
    from modemd.store.sqlite.inbox import InboxStore
    from modemd.store.sqlite.otp import OtpStore
    from modemd.store.sqlite.webhooks import WebhookStore
    _assert_offers([(interface.Store, Store), (interface.OtpStore, OtpStore), (interface.InboxStore, InboxStore),
                    (interface.WebhookStore, WebhookStore)])


def test_the_postgres_classes_offer_what_the_interface_declares():
    """The same for the PostgreSQL backend's classes, as far as they are written (add each one here)."""
    import modemd.store as interface
    pytest.importorskip("psycopg")
    from modemd.store.postgres.otp import OtpStore as PgOtpStore
    from modemd.store.postgres.queue import Store as PgStore
    _assert_offers([(interface.Store, PgStore), (interface.OtpStore, PgOtpStore)])


def _assert_offers(pairs: list[tuple[type, type]]) -> None:
    """Each (Protocol, backend class): every coroutine of the Protocol, by name, with the same parameters."""
    import inspect
    for protocol, backend in pairs:
        declared = [n for n, f in vars(protocol).items() if inspect.iscoroutinefunction(f)]
        assert declared, protocol
        for name in declared:
            implemented = getattr(backend, name, None)
            assert inspect.iscoroutinefunction(implemented), f"{backend.__name__}.{name} is missing"
            assert _shape(implemented) == _shape(getattr(protocol, name)), f"{backend.__name__}.{name}"
