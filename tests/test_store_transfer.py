"""store/postgres/transfer.py on a real SQLite file and a real PostgreSQL: what changes on the way. A send left
`sending` becomes this host's interrupted send (taken back at start-up); the webhook events the SQLite daemon had
captured are not captured again, the later ones are; the sequences continue after the copied ids; the copy is one
transaction."""

from __future__ import annotations

import sqlite3
import time

import pytest

psycopg = pytest.importorskip("psycopg")

import kit                                                              # noqa: E402
from modemd.domain.sms import Kind, OutboundSms, Priority, new_message_id   # noqa: E402
from modemd.store.sqlite.queue import Store as SqliteStore               # noqa: E402
from modemd.store.sqlite.schema import MIGRATIONS                        # noqa: E402
from modemd.store.postgres.transfer import TransferError, copy_into, open_source  # noqa: E402


def sms(i: int, now: float) -> OutboundSms:
    return OutboundSms(id=new_message_id(now + i), to=f"+49151123456{i:02d}", kind=Kind.SMS, priority=Priority.NORMAL,
                       text=f"message {i}", parts=1, next_attempt_at=now, created_at=now, updated_at=now)


async def sqlite_file(tmp_path, messages: int = 3):
    """A SQLite store with `messages` queued, the first claimed by modem0 (left `sending`), the second sent."""
    store = SqliteStore(tmp_path / "modemd.db")
    await store.open()
    now = time.time()
    queued = [sms(i, now) for i in range(messages)]
    for message in queued:
        await store.enqueue(message)
    first = await store.claim_next("modem0", now + 1)
    second = await store.claim_next("modem0", now + 1)
    await store.mark_sent(second.id, [7], purge_text=False)
    await store.close()
    return queued, first, second


async def copy(pg_store, path):
    source = open_source(path, len(MIGRATIONS))
    try:
        return await pg_store.db.write(lambda conn: copy_into(source, conn, pg_store.node))
    finally:
        source.close()


async def rows(store, sql, params=()):
    async def work(conn):
        return await (await conn.execute(sql, params)).fetchall()
    return await store.db.read(work)


async def test_a_send_left_sending_is_this_hosts_interrupted_send_and_is_taken_back(pg, tmp_path):
    queued, first, second = await sqlite_file(tmp_path)
    async with kit.open_pg_store(pg, node="box1") as store:
        copied = await copy(store, tmp_path / "modemd.db")
        assert copied.rows["messages"] == 3 and copied.interrupted == 1 and copied.queued == 1
        assert await rows(store, "SELECT node, lease_until FROM messages WHERE state = 'sending'") == [("box1", 0.0)]
        assert await store.recover_interrupted(max_attempts=5, max_ambiguous=1) == [first.id]
        recovered = await store.get(first.id)
        assert recovered.state.value == "queued" and recovered.possible_duplicate      # the crash rule, as on SQLite
        assert (await store.get(second.id)).references == [7]


async def test_captured_webhook_events_are_not_captured_again_and_later_ones_are(pg, tmp_path):
    await sqlite_file(tmp_path)
    with sqlite3.connect(tmp_path / "modemd.db") as conn:
        (sent_event,) = conn.execute("SELECT rowid FROM message_events WHERE to_state = 'sent'").fetchone()
        conn.execute("UPDATE webhook_cursors SET position = ? WHERE source = 'message_events'", (sent_event - 1,))
    async with kit.open_pg_store(pg) as store:
        copied = await copy(store, tmp_path / "modemd.db")
        assert copied.webhook_backlog == 1                  # the sent event, after the cursor: still to deliver
        assert await rows(store, "SELECT source, ref FROM webhook_backlog") == [("message_events", sent_event)]


async def test_the_sequences_continue_after_the_copied_ids(pg, tmp_path):
    queued, _, _ = await sqlite_file(tmp_path)
    async with kit.open_pg_store(pg) as store:
        await copy(store, tmp_path / "modemd.db")
        (before,) = await rows(store, "SELECT max(seq) FROM messages")
        later = sms(9, time.time())
        await store.enqueue(later)
        assert await rows(store, "SELECT seq FROM messages WHERE id = %s", (later.id,)) == [(before[0] + 1,)]
        (events,) = await rows(store, "SELECT max(rowid) FROM message_events WHERE message_id <> %s", (later.id,))
        assert await rows(store, "SELECT rowid FROM message_events WHERE message_id = %s", (later.id,)) == [
            (events[0] + 1,)]


async def test_a_copy_that_fails_leaves_the_target_as_it_was(pg, tmp_path):
    await sqlite_file(tmp_path)
    with sqlite3.connect(tmp_path / "modemd.db") as conn:    # SQLite keeps a text where a time belongs; PostgreSQL
        conn.execute("INSERT INTO inbox_parts (modem, sender, ref, total, seq, text, received_at, pdu_digest) "
                     "VALUES ('modem0', '+491', 1, 2, 1, 'x', 'yesterday', 'd')")      # refuses it, after good rows
    async with kit.open_pg_store(pg) as store:
        with pytest.raises(TransferError, match="refused a row of inbox_parts: invalid input syntax"):
            await copy(store, tmp_path / "modemd.db")
        assert await rows(store, "SELECT count(*) FROM messages") == [(0,)]


async def test_an_older_file_is_refused(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 2")
    with pytest.raises(TransferError, match="schema version 2"):
        open_source(path, len(MIGRATIONS))
