"""Requests written as steps, so that one batch's requests share round trips (Database.batched).

A request of the group commit used to be a coroutine on the connection: each of its statements that needed an
answer was a round trip, and a batch ran its requests one after the other while it held the hot rate-limit locks
(bench/bench_fleet.py: those locks were waited on 45 % of the time, by a holder that was itself waiting for its
client). A stepped request says the same thing as data: a generator that yields a Step (statements to send
together) and receives their results, until it returns its value or raises.

    def steps():
        (found,) = yield Step([("SELECT ... FOR UPDATE", (id,))], reads_only=True)
        ...
        yield Step([("UPDATE ...", (...)), ("INSERT ...", (...))])
        return outcome

The same generator runs two ways:
- run_steps: alone, in the caller's transaction or savepoint, one round trip per step (the plain path).
- run_together: every request of a batch at once, in lockstep: step k of every request goes out in one pipeline
  and one round trip. There is no savepoint per request there (a failed statement aborts the whole transaction in a
  pipeline anyway), so a request must not fail after it has written: it may raise Refused only before its first step,
  or right after a step marked `refusable` (its statements write nothing when the request is refused after reading
  them) whose earlier steps were all `reads_only`. Anything else (a statement's error, a deadlock, another exception,
  a refusal after a write) raises Diverged: the caller rolls the batch back and runs each request by run_steps in its
  own savepoint, where a failure stays the request's own.

A statement of a step may be Merged: one request's part of a statement that has a batch form (an OTP send's
decision, modemd_issue_all; its rows, one INSERT per table from an array per column). run_together sends a round's
parts of one form as one statement, so a batch costs psycopg one execute per step instead of one per request, and
the server one statement to parse and plan (a statement's text that never changes is prepared once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generator, Sequence, Union

import psycopg

from ..errors import Refused

Statement = tuple[str, Sequence]


@dataclass(frozen=True)
class Merged:
    """One request's part (`args`) of a statement with a batch form: `form(parts)` makes the statement for the
    parts of every request of a round, in order; each row it returns begins with the 1-based position of the part
    it answers (NULL: no part's, dropped), and a part's Result is its rows without it. A round's Merged statements
    go out after its plain ones, once per form (a module-level function: the same object groups them), so a part
    must not depend on the plain statements of its round, nor on another request's part. Alone (run_steps), a part
    is its form's statement for one."""
    form: Callable[[list[tuple]], Statement]
    args: tuple


AnyStatement = Union[Statement, Merged]


@dataclass(frozen=True)
class Result:
    """What one statement gave: its rows (none for a statement without a result) and how many rows it touched."""
    rows: list[tuple]
    rowcount: int


@dataclass(frozen=True)
class Step:
    statements: list[AnyStatement]
    reads_only: bool = False    # writes nothing whatever the answers
    refusable: bool = False     # writes nothing if the request refuses (raises Refused) on reading the answers
    # The request's last step, whose answers it does not read (it gets None and returns): when every request's
    # step is final, run_together does not wait for them, and the batch's COMMIT goes out in the same round trip.
    # A statement of it that fails then fails the COMMIT, and the batch runs its requests alone.
    final: bool = False


Steps = Generator[Step, list[Result], Any]
StepsFactory = Callable[[], Steps]      # a new generator each call: a batch that diverged runs its requests again


def as_one(statements: Sequence[Statement]) -> Statement:
    """Writes that need no answer, as one statement: each but the last becomes a data-modifying WITH of the last,
    which must be a SELECT (pg_notify, say). psycopg's own work per statement, not the server's, was most of a step's
    time on the client (bench/bench_fleet.py, profiled: ~70 us an execute). Each must be a plain INSERT, UPDATE or
    DELETE without a WITH of its own (PostgreSQL allows data-modifying WITH at the top level only), and none may
    read what another writes: they share one snapshot. Constraints and triggers run at the statement's end, so a
    foreign key may name a row a sibling inserts."""
    *writes, (last, last_params) = statements
    if not writes:
        return last, last_params
    if not last.lstrip().upper().startswith("SELECT"):
        raise ValueError("as_one: the last statement must be a SELECT")
    ctes = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(writes))
    return f"WITH {ctes} {last}", tuple(p for _, params in writes for p in params) + tuple(last_params)


class Interfered(Exception):
    """A row a request read changed before the request wrote it. Under the row's lock only a request of the same
    batch can have changed it (run_together: every request reads before any writes): the batch runs its requests
    one by one instead."""


class Diverged(Exception):
    """run_together cannot give each request its own outcome: roll the batch back and run the requests alone."""


@dataclass
class _Running:
    steps: Steps
    step: Step
    clean: bool = True          # every step so far was reads_only: a refusal after a refusable step wrote nothing
    outcome: Any = None
    error: BaseException | None = None
    done: bool = False


async def run_steps(conn: psycopg.AsyncConnection, factory: StepsFactory) -> Any:
    """One request alone: each step in one round trip (pipeline mode); its exceptions are the caller's."""
    steps = factory()
    try:
        step = next(steps)
        while True:
            answers = (await _send(conn, [step.statements]))[0]
            step = steps.send(None if step.final else answers)
    except StopIteration as stop:
        return stop.value


async def run_together(conn: psycopg.AsyncConnection, pipeline: psycopg.AsyncPipeline,
                       factories: Sequence[StepsFactory]) -> list[tuple[Any, BaseException | None]]:
    """Every request's steps in lockstep, one round trip per step for all, in `pipeline` (the connection's, open
    around the caller's transaction); (value, None) or (None, Refused) per request, in order. Raises Diverged (see
    the module's docstring), or psycopg.OperationalError for the connection. A last round of final steps is sent
    but not waited for: the caller's COMMIT goes with it (a failure then shows at the pipeline's sync)."""
    running = []
    for factory in factories:
        request = _Running(factory(), None)
        _advance(request, None, start=True)
        running.append(request)
    while live := [r for r in running if not r.done]:
        final = all(r.step.final for r in live)
        try:
            results = await _send(conn, [r.step.statements for r in live], pipeline=pipeline, wait=not final)
        except psycopg.OperationalError as exc:
            if isinstance(exc, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)):
                raise Diverged(exc) from exc
            raise                               # the connection or the server: nothing to run again here
        except psycopg.Error as exc:
            raise Diverged(exc) from exc
        for request, answers in zip(live, results):
            _advance(request, None if request.step.final else answers)
    return [(r.outcome, r.error) for r in running]


def _advance(request: _Running, answers: list[Result] | None, *, start: bool = False) -> None:
    """Give the request its answers (None after a final step); keep its next step, or its outcome."""
    previous = request.step
    try:
        request.step = next(request.steps) if start else request.steps.send(answers)
    except StopIteration as stop:
        request.outcome, request.done = stop.value, True
        return
    except Refused as exc:
        if previous is not None and not (previous.refusable and request.clean):
            raise Diverged(exc) from exc
        request.error, request.done = exc, True
        return
    except Exception as exc:
        raise Diverged(exc) from exc
    if previous is not None and previous.final:
        raise Diverged(f"a request went on after its final step: {request.step}")
    if previous is not None and not previous.reads_only:
        request.clean = False


async def _send(conn: psycopg.AsyncConnection, batches: list[list[AnyStatement]], *,
                pipeline: psycopg.AsyncPipeline | None = None, wait: bool = True) -> list[list[Result] | None]:
    """Every statement of every list in one pipeline, one sync; their results, list by list. In `pipeline` (open
    already) without `wait`: sent, not synced, no results. Merged parts: one statement per form, after the others."""
    if pipeline is None:
        async with conn.pipeline() as own:
            return await _send(conn, batches, pipeline=own, wait=wait)
    parts: dict[Callable, list[tuple]] = {}
    sent = []           # per list: a cursor, or (form, position) of a Merged part
    for statements in batches:
        mine = []
        for statement in statements:
            if isinstance(statement, Merged):
                parts.setdefault(statement.form, []).append(statement.args)
                mine.append((statement.form, len(parts[statement.form])))
            else:
                mine.append(await conn.execute(*statement))
        sent.append(mine)
    merged = {form: await conn.execute(*form(args)) for form, args in parts.items()}
    if not wait:
        return [None] * len(batches)
    await pipeline.sync()
    by_part: dict[tuple[Callable, int], list[tuple]] = {}
    for form, cursor in merged.items():
        for row in (await _result(cursor)).rows:
            if row[0] is not None:
                by_part.setdefault((form, row[0]), []).append(row[1:])
    results = []
    for mine in sent:
        answers = []
        for item in mine:
            if isinstance(item, tuple):
                rows = by_part.get(item, [])
                answers.append(Result(rows, len(rows)))
            else:
                answers.append(await _result(item))
        results.append(answers)
    return results


async def _result(cursor: psycopg.AsyncCursor) -> Result:
    rows = await cursor.fetchall() if cursor.description is not None else []
    return Result(rows, cursor.rowcount)
