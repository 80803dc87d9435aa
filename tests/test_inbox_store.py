"""Reassembly in the store: repeats dropped, parts in any order, and characters a sender split between parts; delivery
reports matched to their message and settling it. The tests taking `inbox` run on both backends (conftest's
any_store); the PostgreSQL-only ones are about several hosts and concurrent transactions on one database."""

from __future__ import annotations

import asyncio
import importlib
import time

import pytest

import kit
from modemd.codec import gsm7
from modemd.domain.sms import OutboundSms, State
from modemd.store import InboundPart

TO = "+447700900123"


def backend_class(store, module: str, name: str):
    """The class `name` of `module` in `store`'s backend (kit.record_stores gives all the record kinds at once)."""
    return getattr(importlib.import_module(f"{type(store).__module__.rpartition('.')[0]}.{module}"), name)


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def inbox(store):
    return backend_class(store, "inbox", "InboxStore")(store)


def part(seq, total, text, *, encoding="", data=None, ref=7, sender="+447700900123"):
    return InboundPart(modem="m0", sender=sender, ref=ref, total=total, seq=seq, text=text, sc_timestamp=None,
                       received_at=time.time(), pdu_digest=f"d{seq}", encoding=encoding, data=data)


async def test_an_emoji_split_between_two_ucs2_parts_is_whole_again(inbox):
    raw = "ok 😀 bye".encode("utf-16-be")
    cut = raw.index("😀".encode("utf-16-be")) + 2              # between the high and the low surrogate
    first, second = raw[:cut], raw[cut:]
    assert await inbox.add_part(part(2, 2, second.decode("utf-16-be", "replace"), encoding="ucs2", data=second),
                                "in_1") is None
    message = await inbox.add_part(part(1, 2, first.decode("utf-16-be", "replace"), encoding="ucs2", data=first),
                                   "in_1")
    assert message.text == "ok 😀 bye" and message.parts == 2


async def test_an_escape_split_from_its_extension_code_is_whole_again(inbox):
    septets = gsm7.encode("price 5€")
    cut = len(septets) - 1                                    # ESC ends part 1, the € code starts part 2
    first, second = bytes(septets[:cut]), bytes(septets[cut:])
    await inbox.add_part(part(1, 2, gsm7.decode(list(first)), encoding="gsm7", data=first), "in_2")
    message = await inbox.add_part(part(2, 2, gsm7.decode(list(second)), encoding="gsm7", data=second), "in_2")
    assert message.text == "price 5€"


async def test_the_same_part_read_twice_is_stored_once(inbox):
    assert await inbox.add_part(part(1, 2, "hello "), "in_3") is None
    assert await inbox.add_part(part(1, 2, "hello "), "in_3") is None
    message = await inbox.add_part(part(2, 2, "world"), "in_3")
    assert message.text == "hello world" and message.parts == 2
    assert [m.text for m in await inbox.list()] == ["hello world"]


async def test_a_single_part_stored_again_after_its_message_was_made_is_dropped(store, inbox):
    """A phone retries a webhook modemd stored but did not answer (it restarted); a SIM slot is read again after a
    crash between the commit and the delete: the same single part, its message made already, is not a new one,
    across a new store object too (what a restart makes). Another digest from the same sender is."""
    single = part(1, 1, "your parcel is here", ref=-1)
    assert (await inbox.add_part(single, "in_5")).text == "your parcel is here"
    again = backend_class(store, "inbox", "InboxStore")(store)
    assert await again.add_part(single, "in_6") is None
    assert await again.add_part(part(1, 1, "your parcel is here", ref=-1, sender="+447700900999"), "in_7")
    other = InboundPart(**{**single.__dict__, "pdu_digest": "another event"})
    assert (await again.add_part(other, "in_8")).id == "in_8"
    assert sorted(m.id for m in await again.list()) == ["in_5", "in_7", "in_8"]


async def test_missing_parts_are_given_up_on_and_marked_incomplete(inbox):
    await inbox.add_part(part(1, 3, "one "), "in_4")
    await inbox.add_part(part(3, 3, "three"), "in_4")
    [message] = await inbox.flush_stale(time.time() + 1, lambda: "in_5")
    assert message.text == "one three" and message.parts == 2 and not message.complete


async def test_turkish_national_shift_survives_reassembly(inbox):
    import dataclasses
    from modemd.codec.gsm7_national import LOCKING_SHIFT
    turkish = LOCKING_SHIFT[1]                               # TS 23.038 A.2.1: the Turkish locking shift table
    first, second = bytes(turkish.index(c) for c in "şğ"), bytes(turkish.index(c) for c in "İ")
    parts = [dataclasses.replace(part(1, 2, "şğ", encoding="gsm7", data=first), shift=(1, 0)),
             dataclasses.replace(part(2, 2, "İ", encoding="gsm7", data=second), shift=(1, 0))]
    assert await inbox.add_part(parts[0], "in_6") is None
    message = await inbox.add_part(parts[1], "in_6")
    assert message.text == "şğİ"


async def sent(store, message_id: str, refs: list[int], *, modem: str = "m0", to: str = TO) -> None:
    """A message sent by `modem` through the store's API: queued, claimed, sent with these TP-MRs."""
    now = time.time()
    await store.enqueue(OutboundSms(id=message_id, to=to, text="hi", parts=len(refs), next_attempt_at=now,
                                    created_at=now, updated_at=now))
    assert (await store.claim_next(modem)).id == message_id
    assert await store.mark_sent(message_id, refs, purge_text=False)


async def test_a_delivery_report_finds_its_message_among_many_sent(store, inbox):
    # The same TP-MR (7) on messages to other numbers and from another modem: only one message matches.
    for i, (modem, to) in enumerate([("m0", f"+4477009{i:05d}") for i in range(200)] +
                                    [("m1", TO), ("m0", TO)]):
        await sent(store, f"msg_{i:026d}", [7], modem=modem, to=to)
    wanted = f"msg_{201:026d}"
    # The network writes the recipient in national form: matched on its last 9 digits.
    settled = await inbox.apply_status_report("m0", 7, "07700900123", 0, None, time.time(), 3600.0)
    assert settled == (wanted, "delivered")
    assert await inbox.apply_status_report("m0", 8, "07700900123", 0, None, time.time(), 3600.0) is None
    assert (await store.get(f"msg_{200:026d}")).state is State.SENT          # m1's message to the same number


async def test_the_sqlite_report_match_narrows_through_the_index(tmp_path):
    from modemd.store.sqlite.inbox import REPORT_MATCH_SQL
    async with kit.open_store(tmp_path / "modemd.db") as store:
        def plan(conn):
            rows = conn.execute("EXPLAIN QUERY PLAN " + REPORT_MATCH_SQL, ("m0", "07700900123", 7, 0.0))
            return " ".join(str(row[3]) for row in rows)
        # Three of the columns narrow the search (it runs on the event loop: no scan of every sent message).
        assert "messages_report_match (modem=? AND <expr>=? AND sent_at>?)" in await store.db.read(plan)


async def test_a_multipart_message_is_delivered_when_its_last_part_is_and_logs_the_move_once(store, inbox):
    await sent(store, "msg_multi", [10, 11, 12])
    report = lambda ref, status: inbox.apply_status_report("m0", ref, TO, status, 5.0,  # noqa: E731
                                                           time.time(), 3600.0)
    assert await report(10, 0x00) is None
    assert await report(12, 0x21) is None              # still trying
    assert await report(11, 0x00) is None
    assert await report(12, 0x00) == ("msg_multi", "delivered")
    assert await report(12, 0x00) is None              # a repeat finds it delivered: nothing moves again
    got = await store.get("msg_multi")
    assert got.state.value == "delivered" and got.delivered_at == 5.0
    assert [(e["from_state"], e["to_state"], e["reason"]) for e in (await store.events("msg_multi"))[-1:]] == [
        ("sent", "delivered", "delivery report")]


async def test_one_failed_part_fails_the_message_with_its_status(store, inbox):
    await sent(store, "msg_lost", [20, 21])
    assert await inbox.apply_status_report("m0", 20, TO, 0x00, None, 7.0, 3600.0) is None
    assert await inbox.apply_status_report("m0", 21, TO, 0x46, None, 8.0, 3600.0) == (
        "msg_lost", "failed")
    got = await store.get("msg_lost")
    assert (got.state.value, got.error_code, got.error_text) == ("failed", "ST 70", "validity period expired")
    assert (await store.events("msg_lost"))[-1]["reason"] == "delivery report: validity period expired"


async def test_a_report_matching_no_message_is_kept_unmatched(store, inbox):
    assert await inbox.apply_status_report("m0", 99, TO, 0x00, None, time.time(), 3600.0) is None


# ---- PostgreSQL: several hosts, concurrent transactions ----------------------------------------------------------
@pytest.fixture
async def pg_store(pg):
    async with kit.open_pg_store(pg, node="host-a") as s:
        yield s


@pytest.fixture
async def host_b(pg, pg_store):
    """A second host on the same database (opened after pg_store emptied it)."""
    from modemd.store.postgres.queue import Store as PgStore
    s = PgStore(pg.url, pg.password, "host-b")
    await s.open()
    yield s
    await s.close()


async def _column(store, query: str, params=()):
    async def work(conn):
        return [row[0] for row in await (await conn.execute(query, params)).fetchall()]
    return await store.db.read(work)


async def _waiting_on_locks(pg, count: int) -> None:
    """Until `count` other sessions wait for a lock (the transactions under test reached the contended point)."""
    import psycopg
    async with await psycopg.AsyncConnection.connect(pg.url, password=pg.password, autocommit=True) as watcher:
        async def waiting():
            cursor = await watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                           "AND datname = current_database()")
            return (await cursor.fetchone())[0] >= count
        await kit.until(waiting)


async def test_a_report_is_matched_to_this_hosts_message_not_another_hosts_on_a_modem_of_the_same_name(
        pg_store, host_b):
    from modemd.store.postgres.inbox import InboxStore as PgInbox
    await sent(pg_store, "msg_a", [7], modem="sim0")
    await sent(host_b, "msg_b", [7], modem="sim0")       # later: the one a match by modem name alone would take
    assert await PgInbox(pg_store).apply_status_report("sim0", 7, TO, 0x00, None, time.time(), 3600.0) == (
        "msg_a", "delivered")
    assert (await host_b.get("msg_b")).state is State.SENT
    assert await PgInbox(host_b).apply_status_report("sim0", 7, TO, 0x46, None, time.time(), 3600.0) == (
        "msg_b", "failed")
    assert (await pg_store.get("msg_a")).state is State.DELIVERED
    assert await _column(pg_store, "SELECT message_id FROM status_reports ORDER BY received_at") == ["msg_a", "msg_b"]


async def test_the_pg_report_match_narrows_through_the_index(pg_store):
    from modemd.store.postgres.inbox import REPORT_MATCH_SQL
    for i in range(50):
        await sent(pg_store, f"msg_{i:04d}", [i % 5], to=f"+4477009{i:05d}")

    async def plan(conn):
        await conn.execute("ANALYZE messages")
        # 50 rows: a scan is cheaper. What is asked is that the index can narrow by all four of its columns (a
        # condition written unlike the index expression could not use it at any size).
        await conn.execute("SET LOCAL enable_seqscan = off")
        cursor = await conn.execute("EXPLAIN " + REPORT_MATCH_SQL + " FOR UPDATE",
                                    ("host-a", "m0", "07700900123", 0.0, 7))
        return "\n".join(row[0] for row in await cursor.fetchall())
    shown = await pg_store.db.write(plan)
    assert "messages_report_match" in shown
    condition = next(line for line in shown.splitlines() if "Index Cond" in line)
    assert all(column in condition for column in ("node =", "modem =", '"right"(destination, 9) =', "sent_at >=")), \
        shown


async def test_two_reports_of_one_message_at_once_both_count(pg, pg_store):
    """The second report waits for the first's commit, then reads the statuses that one wrote: the message is
    delivered with both parts' statuses, not left sent with one of them lost."""
    import psycopg
    from modemd.store.postgres.inbox import InboxStore as PgInbox
    inbox = PgInbox(pg_store)
    await sent(pg_store, "msg_two", [30, 31])
    async with await psycopg.AsyncConnection.connect(pg.url, password=pg.password) as holder:
        async with holder.transaction():     # holds the message row while both reports start
            await holder.execute("SELECT 1 FROM messages WHERE id = 'msg_two' FOR UPDATE")
            reports = [asyncio.create_task(inbox.apply_status_report("m0", ref, TO, 0x00, None, time.time(),
                                                                     3600.0)) for ref in (30, 31)]
            await _waiting_on_locks(pg, 2)
        results = await asyncio.gather(*reports)
    assert sorted(results, key=repr) == [("msg_two", "delivered"), None]
    assert (await pg_store.get("msg_two")).state is State.DELIVERED
    assert await _column(pg_store, "SELECT report_status::jsonb FROM messages WHERE id = 'msg_two'") == [
        {"30": 0, "31": 0}]


async def test_the_last_parts_of_a_message_stored_at_once_make_it_exactly_once(pg, pg_store):
    """Both parts' transactions insert at once (held back behind a table lock until both wait): without the group's
    lock each would count only its own part, and the message would wait for the timeout to arrive incomplete."""
    import psycopg
    from modemd.store.postgres.inbox import InboxStore as PgInbox
    inbox = PgInbox(pg_store)
    async with await psycopg.AsyncConnection.connect(pg.url, password=pg.password) as holder:
        async with holder.transaction():
            await holder.execute("LOCK TABLE inbox_parts IN SHARE MODE")     # inserts wait for it
            adding = [asyncio.create_task(inbox.add_part(part(seq, 2, f"p{seq} "), f"in_{seq}")) for seq in (1, 2)]
            await _waiting_on_locks(pg, 2)
        results = await asyncio.gather(*adding)
    [message] = [m for m in results if m is not None]
    assert (message.text, message.parts, message.complete) == ("p1 p2 ", 2, True)
    assert [m.id for m in await inbox.list()] == [message.id]
    assert await _column(pg_store, "SELECT count(*) FROM inbox_parts") == [0]


async def test_many_parts_stored_at_once_make_every_message_once(pg_store):
    from modemd.store.postgres.inbox import InboxStore as PgInbox
    inbox = PgInbox(pg_store)
    results = await asyncio.gather(*(inbox.add_part(part(seq, 3, f"{ref}.{seq} ", ref=ref), f"in_{ref}_{seq}")
                                     for ref in range(30) for seq in (3, 1, 2)))
    made = sorted((m for m in results if m is not None), key=lambda m: m.text)
    assert [m.text for m in made] == sorted(f"{ref}.1 {ref}.2 {ref}.3 " for ref in range(30))
    assert all(m.complete and m.parts == 3 for m in made)
    assert len(await inbox.list(limit=100)) == 30
    assert await _column(pg_store, "SELECT count(*) FROM inbox_parts") == [0]


async def test_two_hosts_flushing_at_once_flush_each_message_once(pg_store, host_b):
    from modemd.store.postgres.inbox import InboxStore as PgInbox
    a, b = PgInbox(pg_store), PgInbox(host_b)
    for ref in range(20):
        await a.add_part(part(1, 2, f"{ref} ", ref=ref), f"in_{ref}")
    ids = iter(range(1000))
    flushed = await asyncio.gather(a.flush_stale(time.time() + 1, lambda: f"in_a{next(ids)}"),
                                   b.flush_stale(time.time() + 1, lambda: f"in_b{next(ids)}"))
    texts = sorted(m.text for batch in flushed for m in batch)
    assert texts == sorted(f"{ref} " for ref in range(20))
    assert len(await a.list(limit=100)) == 20
    assert await a.flush_stale(time.time() + 1, lambda: "in_none") == []


def test_each_backends_inbox_store_offers_what_the_interface_declares():
    """Every method of store.InboxStore, by name, with the same parameters (names, kinds, defaults), a coroutine."""
    import inspect
    from modemd.store import InboxStore as Declared
    from modemd.store.postgres.inbox import InboxStore as PgInbox
    from modemd.store.sqlite.inbox import InboxStore as SqliteInbox

    def shape(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]
    declared = [n for n, f in vars(Declared).items() if inspect.iscoroutinefunction(f)]
    for backend in (SqliteInbox, PgInbox):
        for name in declared:
            assert inspect.iscoroutinefunction(getattr(backend, name, None)), f"{backend.__module__}: {name}"
            assert shape(getattr(backend, name)) == shape(getattr(Declared, name)), f"{backend.__module__}: {name}"


async def test_a_report_that_came_before_its_message_was_recorded_sent_settles_it_then(store, inbox):
    """A phone reports "delivered" with its answer; the outbox writes "sent" just after (domain/held_reports.py):
    the report is kept unmatched, then apply_held_report links it to the message once sent, and settles it."""
    now = time.time()
    await store.enqueue(OutboundSms(id="msg_early", to=TO, text="hi", parts=1, next_attempt_at=now, created_at=now,
                                    updated_at=now))
    assert (await store.claim_next("m0")).id == "msg_early"                  # sending: the phone has it
    received = time.time()
    assert await inbox.apply_status_report("m0", 42, TO, 0x00, 9.0, received, 3600.0) is None
    held = ("m0", 42, TO, received)
    assert await inbox.apply_held_report("msg_early", *held) is None        # not sent yet: nothing written
    assert await store.mark_sent("msg_early", [42], purge_text=False)
    assert await inbox.apply_held_report("msg_early", "m1", 42, TO, received) is None       # another modem's
    assert await inbox.apply_held_report("msg_early", "m0", 43, TO, received) is None       # another reference
    assert await inbox.apply_held_report("msg_early", "m0", 42, TO, received + 1) is None   # no such report
    assert await inbox.apply_held_report("msg_early", *held) == ("msg_early", "delivered")
    got = await store.get("msg_early")
    assert got.state is State.DELIVERED and got.delivered_at == 9.0
    assert await inbox.apply_held_report("msg_early", *held) is None        # linked once
