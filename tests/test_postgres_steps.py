"""Requests written as steps (store/postgres/steps.py) on a real PostgreSQL: a batch runs them together, one round
trip per step for all, and each still gets its own outcome; whatever cannot be told apart there (a statement's
error, a refusal after a write, a row another request of the batch changed) makes the batch run them one by one, with
the same outcomes as if they had never been together."""

from __future__ import annotations

import asyncio

import pytest

psycopg = pytest.importorskip("psycopg")

from modemd.store.errors import RateLimited                          # noqa: E402
from modemd.store.postgres.steps import Interfered, Merged, Step, run_steps  # noqa: E402

pytestmark = pytest.mark.asyncio

TABLE = "CREATE TABLE IF NOT EXISTS steps_probe (name text PRIMARY KEY, n integer NOT NULL)"


@pytest.fixture
async def db(pg_db):
    await pg_db.write(lambda conn: conn.execute(TABLE))
    await pg_db.write(lambda conn: conn.execute("TRUNCATE steps_probe"))
    return pg_db


def insert(name: str, n: int = 1):
    """One write step, then the row read back: two round trips, each shared with the batch."""
    yield Step([("INSERT INTO steps_probe (name, n) VALUES (%s, %s)", (name, n))])
    (row,) = yield Step([("SELECT n FROM steps_probe WHERE name = %s", (name,))], reads_only=True)
    return row.rows[0][0]


def refuse_after_read(name: str):
    """Reads, then refuses: nothing written, so it refuses alone even in a batch run together."""
    (row,) = yield Step([("SELECT count(*) FROM steps_probe WHERE name = %s", (name,))], refusable=True,
                        reads_only=True)
    raise RateLimited(f"probe:{name}", 1.0)


def refuse_after_write(name: str):
    """Writes, then refuses: breaks the rule, so the batch must run its requests alone (where a savepoint takes
    its write back)."""
    yield Step([("INSERT INTO steps_probe (name, n) VALUES (%s, 1)", (name,))])
    raise RateLimited(f"probe:{name}", 1.0)


def failing_statement():
    yield Step([("SELECT 1 / 0", ())])


def insert_final(name: str):
    """One write step that is the request's last: its answer is not waited for, the COMMIT goes with it."""
    yield Step([("INSERT INTO steps_probe (name, n) VALUES (%s, 1)", (name,))], final=True)
    return name


def bump_if(name: str):
    """Read n, write n + 1 only if n is still what was read: Interfered when a request of the batch got there
    first."""
    (row,) = yield Step([("SELECT n FROM steps_probe WHERE name = %s FOR UPDATE", (name,))], reads_only=True)
    seen = row.rows[0][0]
    (done,) = yield Step([("UPDATE steps_probe SET n = n + 1 WHERE name = %s AND n = %s", (name, seen))])
    if done.rowcount != 1:
        raise Interfered(name)
    return seen + 1


async def rows(db) -> dict[str, int]:
    async def read(conn):
        return dict(await (await conn.execute("SELECT name, n FROM steps_probe")).fetchall())
    return await db.read(read)


async def together(db, *factories):
    """Every request in one batch (they are all pending when the batch starts)."""
    return await asyncio.gather(*(db.batched(steps=f) for f in factories), return_exceptions=True)


async def test_a_batch_of_stepped_requests_gives_each_its_own_value(db, caplog):
    caplog.set_level("DEBUG", logger="modemd.store.postgres.database")
    outcomes = await together(db, *(lambda i=i: insert(f"r{i}", i) for i in range(10)))
    assert outcomes == list(range(10))
    assert await rows(db) == {f"r{i}": i for i in range(10)}
    assert "ran its requests alone" not in caplog.text          # together: one round trip per step for all


async def test_a_refusal_before_any_write_fails_its_request_alone(db):
    outcomes = await together(db, lambda: insert("a"), lambda: refuse_after_read("b"), lambda: insert("c"))
    assert outcomes[0] == 1 and outcomes[2] == 1
    assert isinstance(outcomes[1], RateLimited)
    assert await rows(db) == {"a": 1, "c": 1}


async def test_a_refusal_after_a_write_runs_the_batch_alone_and_leaves_nothing_of_it(db, caplog):
    caplog.set_level("DEBUG", logger="modemd.store.postgres.database")
    outcomes = await together(db, lambda: insert("a"), lambda: refuse_after_write("b"), lambda: insert("c"))
    assert outcomes[0] == 1 and outcomes[2] == 1
    assert isinstance(outcomes[1], RateLimited)
    assert await rows(db) == {"a": 1, "c": 1}                   # b's insert was rolled back with its savepoint
    assert "ran its requests alone" in caplog.text


async def test_a_failing_statement_fails_its_request_and_no_other(db):
    outcomes = await together(db, lambda: insert("a"), failing_statement, lambda: insert("c"))
    assert outcomes[0] == 1 and outcomes[2] == 1
    assert isinstance(outcomes[1], psycopg.errors.DivisionByZero)
    assert await rows(db) == {"a": 1, "c": 1}


async def test_final_steps_commit_with_their_batch_and_a_failing_one_fails_alone(db, caplog):
    caplog.set_level("DEBUG", logger="modemd.store.postgres.database")
    assert await together(db, lambda: insert_final("a"), lambda: insert_final("b")) == ["a", "b"]
    assert "ran its requests alone" not in caplog.text
    # "a" again breaks the primary key: found at the COMMIT, so the batch runs alone and only that request fails.
    outcomes = await together(db, lambda: insert_final("c"), lambda: insert_final("a"), lambda: insert_final("d"))
    assert outcomes[0] == "c" and outcomes[2] == "d"
    assert isinstance(outcomes[1], psycopg.errors.UniqueViolation)
    assert await rows(db) == {"a": 1, "b": 1, "c": 1, "d": 1}


async def test_a_failing_final_step_is_not_blamed_on_a_request_run_after_it(db):
    """A request that is not stepped runs after the stepped ones, in its own savepoint: a final step's failure
    must not surface as its error."""
    await db.write(lambda conn: conn.execute("INSERT INTO steps_probe (name, n) VALUES ('taken', 1)"))

    async def plain(conn):
        await conn.execute("INSERT INTO steps_probe (name, n) VALUES ('plain', 1)")
        return "plain"
    outcomes = await asyncio.gather(db.batched(steps=lambda: insert_final("taken")), db.batched(plain),
                                    return_exceptions=True)
    assert isinstance(outcomes[0], psycopg.errors.UniqueViolation) and outcomes[1] == "plain"
    assert await rows(db) == {"taken": 1, "plain": 1}


async def test_requests_that_change_one_row_in_one_batch_see_each_other(db):
    await db.write(lambda conn: conn.execute("INSERT INTO steps_probe (name, n) VALUES ('x', 0)"))
    outcomes = await together(db, *(lambda: bump_if("x") for _ in range(5)))
    assert sorted(outcomes) == [1, 2, 3, 4, 5]                  # one by one, as if never together
    assert await rows(db) == {"x": 5}


async def test_requests_with_one_key_run_one_after_the_other(db):
    """The second of two requests with a key sees the first's write: it runs after the others, not with them."""
    await db.write(lambda conn: conn.execute("INSERT INTO steps_probe (name, n) VALUES ('k', 0)"))
    outcomes = await asyncio.gather(*(db.batched(steps=lambda: bump_if("k"), key="k") for _ in range(3)))
    assert sorted(outcomes) == [1, 2, 3]


async def test_run_steps_runs_one_request_in_the_callers_transaction(db):
    assert await db.write(lambda conn: run_steps(conn, lambda: insert("solo", 7))) == 7
    with pytest.raises(RateLimited):
        await db.write(lambda conn: run_steps(conn, lambda: refuse_after_write("gone")))
    assert await rows(db) == {"solo": 7}


async def test_batched_takes_work_or_steps(db):
    with pytest.raises(TypeError):
        await db.batched()
    with pytest.raises(TypeError):
        await db.batched(lambda conn: None, steps=lambda: insert("x"))


# ---- Merged parts: a round's parts of one form go out as one statement ----------------------------------------
SENT_FORMS: list[int] = []


def _inserted_all(parts):
    """A batch form: every part's row in one INSERT, each part answered with its position and the row it wrote."""
    SENT_FORMS.append(len(parts))
    return ("INSERT INTO steps_probe (name, n) SELECT * FROM unnest(%s::text[], %s::integer[]) "
            "RETURNING (SELECT i FROM unnest(%s::text[]) WITH ORDINALITY AS p(name, i) WHERE p.name = "
            "steps_probe.name), name, n",
            ([name for name, _ in parts], [n for _, n in parts], [name for name, _ in parts]))


def merged_insert(name: str, n: int):
    (written,) = yield Step([Merged(_inserted_all, (name, n))])
    (read,) = yield Step([("SELECT n FROM steps_probe WHERE name = %s", (name,))], reads_only=True)
    return written.rows, read.rows[0][0]


async def test_merged_parts_go_out_as_one_statement_and_each_request_gets_its_own_rows(db):
    SENT_FORMS.clear()
    outcomes = await together(db, lambda: merged_insert("a", 1), lambda: insert("plain", 7),
                              lambda: merged_insert("b", 2), lambda: merged_insert("c", 3))
    assert outcomes == [([("a", 1)], 1), 7, ([("b", 2)], 2), ([("c", 3)], 3)]
    assert SENT_FORMS == [3]                                   # the three parts in one statement
    assert await rows(db) == {"a": 1, "plain": 7, "b": 2, "c": 3}


async def test_a_merged_part_alone_is_its_form_for_one(db):
    SENT_FORMS.clear()
    assert await db.write(lambda conn: run_steps(conn, lambda: merged_insert("solo", 5))) == ([("solo", 5)], 5)
    assert SENT_FORMS == [1]


async def test_a_failing_merged_statement_runs_the_batch_alone_and_fails_only_its_request(db):
    await db.write(lambda conn: conn.execute("INSERT INTO steps_probe (name, n) VALUES ('taken', 0)"))
    outcomes = await together(db, lambda: merged_insert("x", 1), lambda: merged_insert("taken", 2))
    assert outcomes[0] == ([("x", 1)], 1)
    assert isinstance(outcomes[1], psycopg.errors.UniqueViolation)
    assert await rows(db) == {"taken": 0, "x": 1}
