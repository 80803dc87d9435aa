"""The PostgreSQL store's foundation against a real server (kit.postgres): its schema is the SQLite schema's, several
hosts migrating at once apply each version once, write() commits or leaves nothing, a server restart is survived,
and the password shows nowhere."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest

from kit.postgres import PostgresServer, unavailable
from kit.processes import free_port

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")

from modemd.domain.errors import StorageError                          # noqa: E402
from modemd.store.postgres import Database                             # noqa: E402
from modemd.store.postgres.schema import MIGRATIONS, NOT_HERE, OWN_COLUMNS, ROWID_TABLES  # noqa: E402
from modemd.store.sqlite.database import Database as SqliteDatabase    # noqa: E402
from modemd.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS  # noqa: E402


@pytest.fixture(scope="module")
def pg():
    with PostgresServer() as server:
        yield server


@pytest.fixture
def fresh(pg):
    """An empty database each test: drop what the last one made."""
    with psycopg.connect(pg.url, password=pg.password, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return pg


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def opened(pg) -> Database:
    db = Database(pg.url, pg.password)
    await db.open()
    return db


def sqlite_columns(tmp_path) -> dict[str, list[str]]:
    async def make():
        db = SqliteDatabase(tmp_path / "modemd.db")
        await db.open(SQLITE_MIGRATIONS)
        await db.close()
    run(make())
    conn = sqlite3.connect(tmp_path / "modemd.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%'")]
    return {t: sorted(r[1] for r in conn.execute(f"PRAGMA table_info({t})")) for t in tables}


def postgres_columns(pg) -> dict[str, list[str]]:
    with psycopg.connect(pg.url, password=pg.password) as conn:
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                            "WHERE table_schema = 'public' AND table_name != 'modemd_schema'").fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return {t: sorted(c) for t, c in columns.items()}


def test_the_schema_has_every_table_and_column_of_the_sqlite_one(fresh, tmp_path):
    run(_open_close(fresh))
    expected = sqlite_columns(tmp_path)
    for table in ROWID_TABLES:       # SQLite's implicit rowid, explicit here
        expected[table] = sorted(expected[table] + ["rowid"])
    for table, columns in OWN_COLUMNS.items():      # the fleet's: hosts, leases, counter shards, webhook backlog
        expected[table] = sorted(expected.get(table, []) + columns)
    for table in NOT_HERE:                          # replaced by a table of the fleet's (webhook cursors)
        del expected[table]
    assert postgres_columns(fresh) == expected


async def _open_close(pg):
    db = await opened(pg)
    await db.close()


def test_message_counts_follow_the_messages(fresh):
    async def go():
        db = await opened(fresh)
        insert = ("INSERT INTO messages (id, kind, destination, parts, priority, state, next_attempt_at, created_at, "
                  "updated_at) VALUES (%s, 'sms', '+15550100', 1, 0, 'queued', 0, 0, 0)")
        try:
            await db.write(lambda c: c.execute(insert, ("a",)))
            await db.write(lambda c: c.execute(insert, ("b",)))
            await db.write(lambda c: c.execute("UPDATE messages SET state = 'sent' WHERE id = 'a'"))
            await db.write(lambda c: c.execute("DELETE FROM messages WHERE id = 'b'"))
            return await db.read(lambda c: _all(c, "SELECT state, kind, sum(n) FROM message_counts GROUP BY "
                                                   "state, kind ORDER BY state"))
        finally:
            await db.close()
    assert run(go()) == [("queued", "sms", 0), ("sent", "sms", 1)]


async def _all(conn, query, params=()):
    return await (await conn.execute(query, params)).fetchall()


def test_hosts_starting_at_once_all_open_and_migrate_once(fresh):
    async def go():
        dbs = [Database(fresh.url, fresh.password) for _ in range(3)]
        await asyncio.gather(*(db.open() for db in dbs))
        try:
            return await dbs[0].read(lambda c: _all(c, "SELECT version FROM modemd_schema ORDER BY version"))
        finally:
            await asyncio.gather(*(db.close() for db in dbs))
    assert run(go()) == [(version,) for version in range(1, len(MIGRATIONS) + 1)]
    run(_open_close(fresh))             # and opening a migrated database again changes nothing


def test_a_write_commits_and_a_raising_one_leaves_nothing(fresh):
    async def go():
        db = await opened(fresh)
        try:
            await db.write(lambda c: c.execute("INSERT INTO rate_events (bucket, at) VALUES ('kept', 1)"))

            async def fails(conn):
                await conn.execute("INSERT INTO rate_events (bucket, at) VALUES ('dropped', 2)")
                raise ValueError("no")
            with pytest.raises(ValueError):
                await db.write(fails)
            return await db.read(lambda c: _all(c, "SELECT bucket FROM rate_events"))
        finally:
            await db.close()
    assert run(go()) == [("kept",)]
    with psycopg.connect(fresh.url, password=fresh.password) as conn:    # committed: another connection sees it
        assert conn.execute("SELECT bucket FROM rate_events").fetchall() == [("kept",)]


def test_a_server_restart_is_survived(fresh):
    async def go():
        db = await opened(fresh)
        try:
            await db.write(lambda c: c.execute("INSERT INTO rate_events (bucket, at) VALUES ('before', 1)"))
            await asyncio.to_thread(fresh.restart)
            try:
                await asyncio.wait_for(
                    db.write(lambda c: c.execute("INSERT INTO rate_events (bucket, at) VALUES ('after', 2)")), 30)
            except StorageError:
                pass                    # allowed once, but the one after must succeed
            await asyncio.wait_for(
                db.write(lambda c: c.execute("INSERT INTO rate_events (bucket, at) VALUES ('later', 3)")), 30)
            return await db.read(lambda c: _all(c, "SELECT bucket FROM rate_events ORDER BY rowid"))
        finally:
            await db.close()
    buckets = [b for (b,) in run(go())]
    assert buckets[0] == "before" and buckets[-1] == "later"


def test_no_server_is_a_storage_error_not_a_hang(pg):
    nowhere = pg.url.replace(f":{pg.port}/", f":{free_port()}/")
    with pytest.raises(StorageError, match="unavailable"):
        run(Database(nowhere, pg.password).open(), timeout=30)


def test_the_password_shows_nowhere(fresh, caplog):
    caplog.set_level(logging.DEBUG)
    secret_url = fresh.url.replace("modemd@", f"modemd:{fresh.password}@")

    async def go():
        db = Database(secret_url, None)
        await db.open()
        try:
            await db.write(lambda c: c.execute("SELECT 1"))
            await asyncio.to_thread(fresh.restart)
            for _ in range(2):
                try:
                    await db.write(lambda c: c.execute("SELECT 1"))
                except StorageError as exc:
                    assert fresh.password not in str(exc)
            return db
        finally:
            await db.close()
    db = run(go())
    assert fresh.password not in repr(db) and fresh.password not in str(db) and repr(db) == f"Database({fresh.url!r})"
    with pytest.raises(StorageError) as refused:
        run(Database(fresh.url, "wrong-" + fresh.password).open())
    assert fresh.password not in str(refused.value) and "password" in str(refused.value)
    assert caplog.records and not [r for r in caplog.records if fresh.password in r.getMessage()]


@pytest.mark.parametrize("url, shown", [
    ("postgresql://modemd:s3cret@db.example:5432/modemd", "postgresql://modemd@db.example:5432/modemd"),
    ("postgresql://modemd@[::1]/modemd?sslmode=require&password=s3cret",
     "postgresql://modemd@[::1]/modemd?sslmode=require"),
    ("postgresql://modemd@db.example/modemd", "postgresql://modemd@db.example/modemd")])
def test_a_password_in_the_url_is_not_shown(url, shown):
    assert repr(Database(url, "other")) == f"Database({shown!r})"


def test_batched_writes_share_commits_and_a_failing_one_rolls_back_alone(fresh):
    """The group commit (Database.batched): concurrent requests run in few transactions, each in a savepoint."""
    async def go():
        db = await opened(fresh)
        try:
            await db.write(lambda c: c.execute("CREATE TABLE t (n integer PRIMARY KEY)"))

            async def insert(n):
                async def work(conn):
                    if n == 7:
                        raise ValueError("this request fails before any statement")
                    await conn.execute("INSERT INTO t (n) VALUES (%s)", (n,))
                    if n == 13:
                        raise ValueError("this request fails after its insert")
                    if n == 21:
                        await conn.execute("INSERT INTO t (n) VALUES (%s)", (n,))   # violates the key
                    return (await (await conn.execute("SELECT txid_current()")).fetchone())[0]
                return await db.batched(work)
            results = await asyncio.gather(*(insert(n) for n in range(100)), return_exceptions=True)
            rows = await db.read(lambda c: _all(c, "SELECT n FROM t ORDER BY n"))
            return results, [r[0] for r in rows]
        finally:
            await db.close()
    results, rows = run(go())
    assert isinstance(results[7], ValueError) and isinstance(results[13], ValueError)
    assert isinstance(results[21], psycopg.errors.UniqueViolation)
    assert rows == [n for n in range(100) if n not in (7, 13, 21)]
    transactions = {r for r in results if not isinstance(r, Exception)}
    assert len(transactions) < 20, len(transactions)        # 99 commits' worth of requests in a few


def test_a_batch_on_a_lost_server_is_a_storage_error_for_each_request(fresh):
    async def go():
        db = await opened(fresh)
        try:
            fresh.restart()
            outcomes = await asyncio.gather(*(db.batched(lambda c: c.execute("SELECT 1")) for _ in range(5)),
                                            return_exceptions=True)
            after = await db.batched(lambda c: c.execute("SELECT 1"))
            return outcomes, after
        finally:
            await db.close()
    outcomes, after = run(go())
    # each either ran on a fresh connection or failed as "storage unavailable" (503), never anything else
    assert all(isinstance(o, StorageError) or not isinstance(o, BaseException) for o in outcomes), outcomes
    assert after is not None
