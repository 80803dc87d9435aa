"""Group commit: concurrent writes share a transaction, and a failing write rolls back alone."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from modemd.store.sqlite.database import Database

SCHEMA = ["CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"]


@pytest.fixture
async def db(tmp_path):
    d = Database(tmp_path / "t.db")
    await d.open(SCHEMA)
    yield d
    await d.close()


def insert(k, v):
    def work(conn):
        conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, v))
        return k
    return work


def insert_then_fail(k):
    def work(conn):
        conn.execute("INSERT INTO t (k, v) VALUES (?, 0)", (k,))   # written, then the request fails
        raise ValueError(f"refused {k}")
    return work


async def test_a_failing_write_in_a_batch_rolls_back_alone(db):
    works = [insert(f"a{i}", i) for i in range(20)] + [insert_then_fail("bad")] + \
            [insert(f"b{i}", i) for i in range(20)]
    results = await asyncio.gather(*(db.write(w) for w in works), return_exceptions=True)
    assert [r for r in results if isinstance(r, Exception)][0].args == ("refused bad",)
    keys = await db.read(lambda conn: {r[0] for r in conn.execute("SELECT k FROM t")})
    assert keys == {f"a{i}" for i in range(20)} | {f"b{i}" for i in range(20)}


async def test_a_failing_write_does_not_run_its_batch_again(db):
    """Each request of a batch runs once, the failing one too: a batch run again after one failure would let any
    client that can make one request fail (bad input) double the work of every batch."""
    runs = []

    def counted(k, fail=False):
        def work(conn):
            runs.append(k)
            conn.execute("INSERT INTO t (k, v) VALUES (?, 1)", (k,))
            if fail:
                raise ValueError(k)
            return k
        return work
    keys = [f"k{i}" for i in range(10)]
    works = [counted(k) for k in keys[:5]] + [counted("bad", fail=True)] + [counted(k) for k in keys[5:]]
    results = await asyncio.gather(*(db.write(w) for w in works), return_exceptions=True)
    assert isinstance(results[5], ValueError) and results[:5] + results[6:] == keys
    assert sorted(runs) == sorted(keys + ["bad"])
    assert await db.read(lambda conn: sorted(r[0] for r in conn.execute("SELECT k FROM t"))) == keys


async def test_a_constraint_violation_fails_only_its_request(db):
    await db.write(insert("dup", 1))
    results = await asyncio.gather(db.write(insert("x", 1)), db.write(insert("dup", 2)), db.write(insert("y", 1)),
                                   return_exceptions=True)
    assert results[0] == "x" and results[2] == "y" and isinstance(results[1], sqlite3.IntegrityError)
    assert await db.read(lambda conn: conn.execute("SELECT v FROM t WHERE k = 'dup'").fetchone()[0]) == 1


async def test_many_concurrent_writes_are_durable_on_return(db, tmp_path):
    await asyncio.gather(*(db.write(insert(f"k{i}", i)) for i in range(500)))
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 500
    conn.close()


async def test_a_refusal_before_any_write_does_not_roll_back_its_batch(db):
    from modemd.store import Refused
    calls = []

    def refuse(conn):
        calls.append("refuse")
        raise Refused("no")

    def counted(k):
        def work(conn):
            calls.append(k)
            conn.execute("INSERT INTO t (k, v) VALUES (?, 1)", (k,))
        return work
    results = await asyncio.gather(db.write(counted("a")), db.write(refuse), db.write(counted("b")),
                                   return_exceptions=True)
    assert isinstance(results[1], Refused)
    assert calls == ["a", "refuse", "b"]          # one pass: the batch was not re-run


async def test_request_work_runs_on_the_loop_and_bulk_work_on_the_writer_thread_in_one_transaction(db):
    import threading
    seen = {}

    def record(name):
        def work(conn):
            seen[name] = (threading.get_ident(), conn.in_transaction)
            conn.execute("INSERT INTO t (k, v) VALUES (?, 1)", (name,))
        return work
    await asyncio.gather(db.write(record("request")), db.write_bulk(record("sweep")), db.write(record("other")))
    loop_thread = threading.get_ident()
    assert seen["request"] == (loop_thread, True) and seen["other"] == (loop_thread, True)
    assert seen["sweep"][0] != loop_thread and seen["sweep"][1] is True
    assert await db.read(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0]) == 3


async def test_a_failing_bulk_write_rolls_back_alone_in_a_mixed_batch(db):
    def bulk_fail(conn):
        conn.execute("INSERT INTO t (k, v) SELECT 'bulk' || k, v FROM t")
        raise ValueError("sweep failed")
    await db.write(insert("seed", 1))
    results = await asyncio.gather(db.write(insert("a", 1)), db.write_bulk(bulk_fail), db.write(insert("b", 1)),
                                   return_exceptions=True)
    assert results[0] == "a" and results[2] == "b" and isinstance(results[1], ValueError)
    keys = await db.read(lambda conn: {r[0] for r in conn.execute("SELECT k FROM t")})
    assert keys == {"seed", "a", "b"}


async def test_a_failing_commit_fails_its_batch_and_the_next_write_starts_clean(tmp_path):
    # A deferred foreign key is checked at COMMIT: the one way to make COMMIT itself fail on demand.
    d = Database(tmp_path / "fk.db")
    await d.open(["CREATE TABLE p (id INTEGER PRIMARY KEY)",
                  "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)"])
    try:
        orphan = d.write(lambda conn: conn.execute("INSERT INTO c (id, p) VALUES (1, 99)"))
        innocent = d.write(lambda conn: conn.execute("INSERT INTO p (id) VALUES (1)"))
        results = await asyncio.gather(orphan, innocent, return_exceptions=True)
        assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
        assert await d.write(lambda conn: conn.execute("INSERT INTO p (id) VALUES (2)").rowcount) == 1
        assert await d.read(lambda conn: [r[0] for r in conn.execute("SELECT id FROM p")]) == [2]
        assert await d.read(lambda conn: conn.execute("SELECT count(*) FROM c").fetchone()[0]) == 0
    finally:
        await d.close()


async def test_a_write_that_holds_the_loop_too_long_is_named_in_the_log_once(db, caplog):
    import time as clock

    def slow_sweep(conn):
        clock.sleep(0.06)             # stands in for a statement over many rows
        conn.execute("INSERT OR REPLACE INTO t (k, v) VALUES ('slow', 1)")
    with caplog.at_level("WARNING", logger="modemd.store.sqlite.database"):
        await db.write(slow_sweep)
        await db.write(slow_sweep)
    warnings = [r.getMessage() for r in caplog.records if r.name == "modemd.store.sqlite.database"]
    assert len(warnings) == 1 and "slow_sweep" in warnings[0] and "write_bulk" in warnings[0], warnings


async def test_a_write_lock_held_by_another_process_is_waited_for_off_the_loop(db, tmp_path):
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")                 # an admin's sqlite3 shell in the middle of a write
    write = asyncio.ensure_future(db.write(insert("after", 1)))
    ticks = 0
    for _ in range(20):                              # the loop keeps running while the write waits
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not write.done()
    other.execute("COMMIT")
    assert await asyncio.wait_for(write, 5) == "after"
    other.close()
    assert await db.write(insert("next", 2)) == "next"    # the busy timeout is back for the next batch


async def test_a_full_disk_is_a_storage_error_for_the_whole_batch_and_the_next_write_works_again(db):
    from modemd.domain.errors import StorageError
    pages = await db.write(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
    await db.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))     # the disk is full now
    big = "x" * 20000                                                                # needs new pages
    results = await asyncio.gather(db.write(insert("small", 1)),
                                   db.write(lambda conn: conn.execute("INSERT INTO t VALUES ('big', ?)", (big,))),
                                   return_exceptions=True)
    # SQLite rolls the whole transaction back on SQLITE_FULL: no request of the batch can commit, and each says why.
    assert all(isinstance(r, StorageError) and "full" in str(r) for r in results), results
    assert isinstance(results[1].__cause__, sqlite3.OperationalError)
    assert await db.read(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
    await db.write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))  # space again
    assert await db.write(insert("after", 1)) == "after"


async def test_a_constraint_violation_is_not_a_storage_error(db):
    from modemd.domain.errors import StorageError
    await db.write(insert("k", 1))
    with pytest.raises(sqlite3.IntegrityError):
        await db.write(insert("k", 2))
    with pytest.raises(sqlite3.OperationalError) as raised:        # a bad statement is a bug, not the disk
        await db.read(lambda conn: conn.execute("SELECT nope FROM t"))
    assert not isinstance(raised.value, StorageError)


async def test_the_pending_writes_are_bounded(db, tmp_path, monkeypatch):
    from modemd.store.sqlite import database as db_module
    from modemd.domain.errors import StorageError
    monkeypatch.setattr(db_module, "MAX_PENDING", 5)
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")                 # the writer is held up: requests pile up
    first = asyncio.ensure_future(db.write(insert("first", 0)))
    await asyncio.sleep(0.05)                        # taken into a batch, which waits for the lock
    waiting = [asyncio.ensure_future(db.write(insert(f"k{i}", i))) for i in range(5)]
    await asyncio.sleep(0)
    with pytest.raises(StorageError, match="behind by 5 writes"):
        await db.write(insert("one too many", 9))
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(first, 5) == "first"
    assert await asyncio.gather(*waiting) == [f"k{i}" for i in range(5)]   # the ones it took all commit
