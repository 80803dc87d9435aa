"""The one gate for message state on the PostgreSQL store (store/postgres/transitions.py) against a real server:
the transition table, compare-and-set, the event row in the same transaction, and, as several hosts would race,
exactly one of many concurrent moves of one message wins."""

from __future__ import annotations

import asyncio

import pytest


psycopg = pytest.importorskip("psycopg")

from modemd.store.postgres import Database as PgDatabase                    # noqa: E402
from modemd.domain.sms import State                                         # noqa: E402
from modemd.store.postgres.transitions import move                          # noqa: E402

NOW = 1_800_000_000.0


async def queued(pg_db, message_id="msg_1", kind="sms") -> str:
    await pg_db.write(lambda conn: conn.execute(
        "INSERT INTO messages (id, kind, destination, body, parts, priority, state, next_attempt_at, created_at, "
        "updated_at) VALUES (%s, %s, '+4915112345678', 'hello', 1, 1, 'queued', %s, %s, %s)",
        (message_id, kind, NOW, NOW, NOW)))
    return message_id


async def row(pg_db, message_id):
    async def read(conn):
        cursor = await conn.execute("SELECT state, attempts, modem, body FROM messages WHERE id = %s", (message_id,))
        return await cursor.fetchone()
    return await pg_db.read(read)


async def events(pg_db, message_id):
    async def read(conn):
        cursor = await conn.execute("SELECT from_state, to_state, reason FROM message_events WHERE message_id = %s "
                                    "ORDER BY rowid", (message_id,))
        return await cursor.fetchall()
    return await pg_db.read(read)


async def test_a_claim_moves_counts_the_attempt_and_logs_it(pg_db):
    mid = await queued(pg_db)
    moved = await pg_db.write(lambda conn: move(conn, mid, State.QUEUED, State.SENDING, "claimed by m0", NOW + 1,
                                             sets={"modem": "m0"}, adjust=("count_attempt",),
                                             returning="id, attempts"))
    assert moved == {"id": mid, "attempts": 1}
    assert await row(pg_db, mid) == ("sending", 1, "m0", "hello")
    assert await events(pg_db, mid) == [("queued", "sending", "claimed by m0")]


async def test_a_message_not_in_the_source_state_is_left_alone(pg_db):
    mid = await queued(pg_db)
    assert await pg_db.write(lambda conn: move(conn, mid, State.SENDING, State.SENT, "sent", NOW)) is None
    assert await pg_db.write(lambda conn: move(conn, "msg_missing", State.QUEUED, State.CANCELED, "x", NOW)) is None
    assert await row(pg_db, mid) == ("queued", 0, None, "hello") and await events(pg_db, mid) == []


async def test_a_move_the_table_does_not_have_or_a_column_it_may_not_set_is_refused(pg_db):
    mid = await queued(pg_db)
    with pytest.raises(ValueError):
        await pg_db.write(lambda conn: move(conn, mid, State.QUEUED, State.SENT, "skipping sending", NOW))
    with pytest.raises(ValueError):
        await pg_db.write(lambda conn: move(conn, mid, State.QUEUED, State.CANCELED, "x", NOW, sets={"state": "sent"}))
    assert await row(pg_db, mid) == ("queued", 0, None, "hello")


async def test_a_rolled_back_move_leaves_neither_the_state_nor_the_event(pg_db):
    mid = await queued(pg_db)

    async def move_then_fail(conn):
        await move(conn, mid, State.QUEUED, State.CANCELED, "canceled", NOW)
        raise RuntimeError("the request failed after the move")
    with pytest.raises(RuntimeError):
        await pg_db.write(move_then_fail)
    assert await row(pg_db, mid) == ("queued", 0, None, "hello") and await events(pg_db, mid) == []


async def test_refund_and_otp_text_adjustments(pg_db):
    otp = await queued(pg_db, "msg_otp", kind="otp")
    await pg_db.write(lambda conn: move(conn, otp, State.QUEUED, State.SENDING, "claimed", NOW, adjust=("count_attempt",)))
    await pg_db.write(lambda conn: move(conn, otp, State.SENDING, State.QUEUED, "modem gone", NOW,
                                     adjust=("refund_attempt",)))
    await pg_db.write(lambda conn: move(conn, otp, State.QUEUED, State.EXPIRED, "deadline passed", NOW,
                                     adjust=("forget_otp_text",)))
    assert await row(pg_db, otp) == ("expired", 0, None, None)


async def test_of_many_concurrent_claims_of_one_message_exactly_one_wins(pg, pg_db):
    """As several hosts would: separate pools, all at once, each trying queued -> sending."""
    mid = await queued(pg_db)
    hosts = [PgDatabase(pg.url, pg.password) for _ in range(4)]
    for host in hosts:
        await host.open()
    try:
        claims = [database.write(lambda conn, n=n: move(conn, mid, State.QUEUED, State.SENDING, f"claimed by m{n}",
                                                        NOW, sets={"modem": f"m{n}"}, adjust=("count_attempt",)))
                  for n, database in enumerate([pg_db, *hosts] * 4)]
        won = [r for r in await asyncio.gather(*claims) if r is not None]
    finally:
        for host in hosts:
            await host.close()
    assert len(won) == 1
    assert (await row(pg_db, mid))[:2] == ("sending", 1) and len(await events(pg_db, mid)) == 1
