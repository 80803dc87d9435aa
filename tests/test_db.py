"""Group commit: concurrent writes share a transaction, and a failing write rolls back alone."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from modemd.db import Database

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
    from modemd.db import Refused
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
