"""PostgreSQL plumbing for the store: the connection pool, migrations, and one transaction per request.

The URL names the server, the role and the database (postgresql://user@host:port/db); the password comes apart
(the caller reads it from a file or a systemd credential) and goes to libpq only: the URL this module shows (repr,
str, the log, error messages) never carries one, even if the configured URL did.

write(work) and read(work) run `await work(conn)` in a transaction on a pooled connection: a write has committed
when it returns, and an exception rolls it back.

batched(work) is the group commit of the request paths (accepting a message, issuing and checking a code), which every
request of every host takes through the same few rate-limit buckets (the app's, the country's): a bucket's advisory
lock is held until the commit, so one transaction per request let the whole fleet accept one request per commit (166
OTP sends/s at 6 ms a commit, bench/bench_fleet.py). Requests that arrive while a batch commits wait for the next one
and run in one transaction, each in its own savepoint: one fsync and one hold of the hot locks cover them all, and a
request that fails (a limit reached, bad input) rolls back alone. Requests written as steps (steps.py: an OTP's send
and check) run together, one round trip per step for the whole batch instead of a few per request, while the hot locks
are held; the others each in a savepoint after them. A request chosen as a deadlock's victim (two hosts' batches
taking buckets in opposite orders) runs again in the next batch. Work that waits on other hosts (a capture's lock) or
runs long (sweeps, pruning) keeps to write(): a batch never waits behind it. A lost connection or an unreachable
server raises StorageError (the API answers 503 with Retry-After); the pool checks a connection before handing it out,
so after a server restart the next request gets a fresh one instead of a dead one.

Migrations: several hosts may start at once on an empty database. Each migration runs in its own transaction that
first takes a transaction-level advisory lock, then reads the version: the hosts apply each version one after the
other, and only the first finds it missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Hashable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg_pool import AsyncConnectionPool

from ...domain.errors import StorageError
from .schema import MIGRATIONS
from .steps import Diverged, StepsFactory, run_steps, run_together

Work = Callable[[psycopg.AsyncConnection], Awaitable[Any]]
log = logging.getLogger(__name__)

# Key of the advisory lock migrations take (any bigint both sides agree on: "modemd" in ASCII).
MIGRATION_LOCK = 0x6D6F64656D64
CONNECT_TIMEOUT = 5         # seconds for one connection attempt (libpq's connect_timeout)
POOL_TIMEOUT = 10.0         # seconds a request waits for a pooled connection before StorageError
POOL_SIZE = (1, 10)         # connections kept open at least, at most
# A server that vanishes without closing the connection (a cut cable, a partition that drops packets): the kernel
# gives up on a connection whose sent data is unacknowledged for TCP_USER_TIMEOUT ms, and probes an idle one, so a
# request fails with StorageError in seconds instead of hanging until the default retransmissions give up (~15 min).
# libpq's own parameters; ignored on a unix socket.
TCP_OPTIONS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
               "tcp_user_timeout": 15000}
# Requests of one batch at most: each request's savepoint is a subtransaction, and past 64 of them in one
# transaction PostgreSQL's per-backend cache of subtransaction ids overflows, which slows every other session's
# snapshots until the transaction ends. Also bounds how long one commit holds the hot locks. Waiting at most:
# past it a request is refused at once (StorageError: 503 with Retry-After) instead of the list growing while the
# database is slow.
MAX_BATCH = 60
MAX_PENDING = 20000       # ~ seconds of work at the measured rates: far more than a healthy host has waiting
# Seconds a connection that just worked is handed out again unchecked (Database._check).
CHECK_AFTER = 1.0
# Times a request that lost a deadlock or a serialization conflict is run again before it fails.
RERUNS = 3


@dataclass
class _Request:
    work: Work | None               # a coroutine on the connection, or
    steps: StepsFactory | None      # the same written as steps (steps.py), which a batch runs together
    key: Hashable                   # stepped requests with one key do not run together (they would not see each other)
    future: asyncio.Future
    reruns: int = 0

    def alone(self) -> Work:
        return self.work or (lambda conn: run_steps(conn, self.steps))


def _connection_lost(exc: BaseException) -> bool:
    """The connection or the server failed (not a statement): nothing on this connection can run again."""
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure))


def without_password(url: str) -> str:
    """The URL as it may be shown: a password in its user part or its query dropped."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    netloc = user + host + (f":{parts.port}" if parts.port else "") if parts.password is not None else parts.netloc
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


async def migrate(conn: psycopg.AsyncConnection, migrations: list[str]) -> int:
    """Apply the versions missing from modemd_schema, each in its own transaction under the advisory lock.
    Returns the version the database is at."""
    for number, script in enumerate(migrations, 1):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute("CREATE TABLE IF NOT EXISTS modemd_schema (version integer PRIMARY KEY, "
                               "applied_at timestamptz NOT NULL DEFAULT now())")
            version = (await (await conn.execute("SELECT coalesce(max(version), 0) FROM modemd_schema")).fetchone())[0]
            if version > len(migrations):
                raise RuntimeError(f"database schema version {version} is newer than this modemd ({len(migrations)})")
            if version >= number:
                continue
            await conn.execute(script.encode())     # bytes: sent as is, several statements in one
            await conn.execute("INSERT INTO modemd_schema (version) VALUES (%s)", (number,))
            log.info("database schema migrated to version %d", number)
    return len(migrations)


class Database:
    def __init__(self, url: str, password: str | None):
        self.url = without_password(url)
        self._connect = {"conninfo": url, "password": password, "connect_timeout": CONNECT_TIMEOUT, **TCP_OPTIONS}
        self._pool: AsyncConnectionPool | None = None
        self._pending: list[_Request] = []
        self._used_at: dict[int, float] = {}      # id(connection) -> when a transaction last succeeded on it
        self._flusher: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    __str__ = __repr__

    async def open(self, migrations: list[str] = MIGRATIONS) -> None:
        """Connect, migrate, then open the pool. A refused password or an unreachable server: StorageError."""
        try:
            async with await psycopg.AsyncConnection.connect(**self._connect) as conn:
                version = await migrate(conn, migrations)
            conninfo, kwargs = self._connect["conninfo"], {k: v for k, v in self._connect.items() if k != "conninfo"}
            self._pool = AsyncConnectionPool(conninfo, kwargs=kwargs, min_size=POOL_SIZE[0], max_size=POOL_SIZE[1],
                                             open=False, timeout=POOL_TIMEOUT, name="modemd-store",
                                             check=self._check, configure=self._configure)
            await self._pool.open(wait=True, timeout=POOL_TIMEOUT)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc
        log.info("database %s open at schema version %d", self.url, version)

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()

    async def connect(self, **options) -> psycopg.AsyncConnection:
        """A connection of its own, outside the pool (LISTEN needs one that stays with its listener)."""
        try:
            return await psycopg.AsyncConnection.connect(**self._connect, **options)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc

    async def write(self, work: Work) -> Any:
        """Run `await work(conn)` in a transaction; returns once it has committed. An exception rolls it back."""
        return await self._transaction(work)

    async def _check(self, conn: psycopg.AsyncConnection) -> None:
        """Before the pool hands a connection out: one that worked within CHECK_AFTER seconds is taken as good,
        any other is tried first (a round trip), so a server restart costs no request a dead connection. A check on
        every hand-out cost every transaction a round trip (bench/bench_fleet.py: the modems' idle time between two
        sends, and the submit-to-wire latency)."""
        if time.monotonic() - self._used_at.get(id(conn), float("-inf")) > CHECK_AFTER:
            await AsyncConnectionPool.check_connection(conn)

    def _worked(self, conn: psycopg.AsyncConnection) -> None:
        self._used_at[id(conn)] = time.monotonic()

    async def batched(self, work: Work | None = None, *, steps: StepsFactory | None = None,
                      key: Hashable = None) -> Any:
        """Run `await work(conn)`, or the request `steps` makes (steps.py), in the next group commit (see the
        module's docstring); returns once that has committed. An exception rolls back this request only. `key`:
        stepped requests that must see each other's writes (the same key) run one after the other."""
        if (work is None) == (steps is None):
            raise TypeError("batched() takes work or steps")
        if len(self._pending) >= MAX_PENDING:
            raise StorageError(f"database {self.url} is behind: {len(self._pending)} writes waiting")
        request = _Request(work, steps, key, asyncio.get_running_loop().create_future())
        self._pending.append(request)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="db-group-commit")
        return await request.future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            await self._commit(batch)

    async def _commit(self, batch: list[_Request]) -> None:
        try:
            async with self._pool.connection() as conn:
                try:
                    # One pipeline around the transaction: BEGIN goes out with the first step, COMMIT with the
                    # last (steps.Step.final), instead of a round trip each while the hot locks are held.
                    async with conn.pipeline() as pipeline, conn.transaction():
                        outcomes, again = await self._run(conn, batch, pipeline)
                except (Diverged, psycopg.Error) as diverged:
                    if _connection_lost(diverged):
                        raise
                    log.debug("a batch of %d ran its requests alone: %s", len(batch), diverged)
                    async with conn.transaction():
                        outcomes, again = await self._run(conn, batch, None)
            self._worked(conn)
        except psycopg.OperationalError as exc:
            failure = self._unavailable(exc)
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(failure)
            return
        except BaseException as exc:            # a bug in the batching itself, or cancellation: fail, never hang
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc if isinstance(exc, Exception) else StorageError(repr(exc)))
            raise
        for request, value, exc in outcomes:
            if request.future.done():           # the caller went away (cancelled): the work is done all the same
                continue
            if exc is None:
                request.future.set_result(value)
            else:
                request.future.set_exception(exc)
        self._pending[:0] = again

    async def _run(self, conn: psycopg.AsyncConnection, batch: list[_Request], pipeline: psycopg.AsyncPipeline | None
                   ) -> tuple[list[tuple[_Request, Any, BaseException | None]], list[_Request]]:
        """The batch's requests in the open transaction: the stepped ones together in `pipeline` (steps.run_together:
        one round trip per step for all of them; raises Diverged), unless there is none, then each of the others
        in its own savepoint. Returns each request's (value, exception), and the ones to run again (a deadlock's
        victim)."""
        outcomes: list[tuple[_Request, Any, BaseException | None]] = []
        again: list[_Request] = []
        alone = batch
        if pipeline is not None:
            stepped, alone, keys = [], [], set()
            for request in batch:
                if request.steps is None or (request.key is not None and request.key in keys):
                    alone.append(request)       # after the others: it sees what they wrote
                else:
                    stepped.append(request)
                    keys.add(request.key)
            for request, (value, exc) in zip(stepped, await run_together(conn, pipeline, [r.steps for r in stepped])):
                outcomes.append((request, value, exc))
            if alone:
                await pipeline.sync()       # a final step's failure is the batch's (Diverged), not the next request's
        for request in alone:
            try:
                value = await self._in_savepoint(conn, request.alone())
                outcomes.append((request, value, None))
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                if request.reruns < RERUNS:
                    request.reruns += 1
                    again.append(request)
                else:
                    outcomes.append((request, None, self._unavailable(exc)))
            except psycopg.OperationalError:
                raise                                   # the connection or the server: the whole batch
            except Exception as exc:
                outcomes.append((request, None, exc))
        return outcomes, again

    async def write_one(self, work: Work) -> Any:
        """Run `await work(conn)`, which makes exactly one statement, on its own: a statement is atomic and
        commits when it ends (autocommit), so BEGIN and COMMIT, two round trips, are saved. For the queue's hottest
        writes (a claim, the end of a send), between two sends of a modem."""
        return await self._transaction(work, transaction=False)

    @staticmethod
    async def _in_savepoint(conn: psycopg.AsyncConnection, work: Work) -> Any:
        """`await work(conn)` in a savepoint of the batch's transaction, rolled back alone if it raises. In pipeline
        mode the SAVEPOINT goes out with the request's first statement and the RELEASE with its last, not a round
        trip each (two of an OTP send's six). psycopg syncs whenever the request needs an answer, so an error still
        surfaces inside the request that caused it."""
        try:
            async with conn.pipeline():
                await conn.execute("SAVEPOINT request")
                value = await work(conn)
                await conn.execute("RELEASE SAVEPOINT request")
            return value
        except psycopg.OperationalError as exc:
            if not isinstance(exc, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)):
                raise                   # the connection or the server: nothing to roll back to
            await conn.execute("ROLLBACK TO SAVEPOINT request")
            await conn.execute("RELEASE SAVEPOINT request")
            raise
        except Exception:
            await conn.execute("ROLLBACK TO SAVEPOINT request")
            await conn.execute("RELEASE SAVEPOINT request")
            raise

    async def read(self, work: Work) -> Any:
        """Run `await work(conn)` outside a transaction (the pool's connections are in autocommit mode): one
        round trip for one statement, which is consistent by itself. A read of several statements that must agree
        belongs in write()."""
        return await self._transaction(work, transaction=False)

    async def _transaction(self, work: Work, *, transaction: bool = True) -> Any:
        try:
            async with self._pool.connection() as conn:
                if transaction:
                    async with conn.transaction():
                        result = await work(conn)
                else:
                    result = await work(conn)
                self._worked(conn)
                return result
        except psycopg.OperationalError as exc:     # the connection, the server or the pool (PoolTimeout) failed
            raise self._unavailable(exc) from exc

    @staticmethod
    async def _configure(conn: psycopg.AsyncConnection) -> None:
        """Autocommit: a transaction is what write() and batched() open (BEGIN ... COMMIT), a read is a statement;
        without it psycopg opened one for every read too, two more round trips."""
        await conn.set_autocommit(True)

    def _unavailable(self, exc: Exception) -> StorageError:
        return StorageError(f"database {self.url} unavailable: {str(exc).strip() or type(exc).__name__}")
