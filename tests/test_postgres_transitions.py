"""The one gate for message state on the PostgreSQL store (store/postgres/transitions.py) against a real server:
the transition table, compare-and-set, the event row in the same transaction, and, as several hosts would race,
exactly one of many concurrent moves of one message wins."""

from __future__ import annotations

import asyncio

import pytest

from kit.postgres import PostgresServer, unavailable

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")

from modemd.domain.sms import State                                         # noqa: E402
from modemd.store.postgres import Database                                  # noqa: E402
from modemd.store.postgres.transitions import move                          # noqa: E402

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def pg():
    with PostgresServer() as server:
        yield server


@pytest.fixture
async def db(pg):
    database = Database(pg.url, pg.password)
    await database.open()
    await database.write(lambda conn: conn.execute("TRUNCATE messages, message_events"))
    yield database
    await database.close()


async def queued(db, message_id="msg_1", kind="sms") -> str:
    await db.write(lambda conn: conn.execute(
        "INSERT INTO messages (id, kind, destination, body, parts, priority, state, next_attempt_at, created_at, "
        "updated_at) VALUES (%s, %s, '+4915112345678', 'hello', 1, 1, 'queued', %s, %s, %s)",
        (message_id, kind, NOW, NOW, NOW)))
    return message_id


async def row(db, message_id):
    async def read(conn):
        cursor = await conn.execute("SELECT state, attempts, modem, body FROM messages WHERE id = %s", (message_id,))
        return await cursor.fetchone()
    return await db.read(read)


async def events(db, message_id):
    async def read(conn):
        cursor = await conn.execute("SELECT from_state, to_state, reason FROM message_events WHERE message_id = %s "
                                    "ORDER BY rowid", (message_id,))
        return await cursor.fetchall()
    return await db.read(read)


async def test_a_claim_moves_counts_the_attempt_and_logs_it(db):
    mid = await queued(db)
    moved = await db.write(lambda conn: move(conn, mid, State.QUEUED, State.SENDING, "claimed by m0", NOW + 1,
                                             sets={"modem": "m0"}, adjust=("count_attempt",),
                                             returning="id, attempts"))
    assert moved == {"id": mid, "attempts": 1}
    assert await row(db, mid) == ("sending", 1, "m0", "hello")
    assert await events(db, mid) == [("queued", "sending", "claimed by m0")]


async def test_a_message_not_in_the_source_state_is_left_alone(db):
    mid = await queued(db)
    assert await db.write(lambda conn: move(conn, mid, State.SENDING, State.SENT, "sent", NOW)) is None
    assert await db.write(lambda conn: move(conn, "msg_missing", State.QUEUED, State.CANCELED, "x", NOW)) is None
    assert await row(db, mid) == ("queued", 0, None, "hello") and await events(db, mid) == []


async def test_a_move_the_table_does_not_have_or_a_column_it_may_not_set_is_refused(db):
    mid = await queued(db)
    with pytest.raises(ValueError):
        await db.write(lambda conn: move(conn, mid, State.QUEUED, State.SENT, "skipping sending", NOW))
    with pytest.raises(ValueError):
        await db.write(lambda conn: move(conn, mid, State.QUEUED, State.CANCELED, "x", NOW, sets={"state": "sent"}))
    assert await row(db, mid) == ("queued", 0, None, "hello")


async def test_a_rolled_back_move_leaves_neither_the_state_nor_the_event(db):
    mid = await queued(db)

    async def move_then_fail(conn):
        await move(conn, mid, State.QUEUED, State.CANCELED, "canceled", NOW)
        raise RuntimeError("the request failed after the move")
    with pytest.raises(RuntimeError):
        await db.write(move_then_fail)
    assert await row(db, mid) == ("queued", 0, None, "hello") and await events(db, mid) == []


async def test_refund_and_otp_text_adjustments(db):
    otp = await queued(db, "msg_otp", kind="otp")
    await db.write(lambda conn: move(conn, otp, State.QUEUED, State.SENDING, "claimed", NOW, adjust=("count_attempt",)))
    await db.write(lambda conn: move(conn, otp, State.SENDING, State.QUEUED, "modem gone", NOW,
                                     adjust=("refund_attempt",)))
    await db.write(lambda conn: move(conn, otp, State.QUEUED, State.EXPIRED, "deadline passed", NOW,
                                     adjust=("forget_otp_text",)))
    assert await row(db, otp) == ("expired", 0, None, None)


async def test_of_many_concurrent_claims_of_one_message_exactly_one_wins(pg, db):
    """As several hosts would: separate pools, all at once, each trying queued -> sending."""
    mid = await queued(db)
    hosts = [Database(pg.url, pg.password) for _ in range(4)]
    for host in hosts:
        await host.open()
    try:
        claims = [database.write(lambda conn, n=n: move(conn, mid, State.QUEUED, State.SENDING, f"claimed by m{n}",
                                                        NOW, sets={"modem": f"m{n}"}, adjust=("count_attempt",)))
                  for n, database in enumerate([db, *hosts] * 4)]
        won = [r for r in await asyncio.gather(*claims) if r is not None]
    finally:
        for host in hosts:
            await host.close()
    assert len(won) == 1
    assert (await row(db, mid))[:2] == ("sending", 1) and len(await events(db, mid)) == 1
