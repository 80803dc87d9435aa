"""SQLite plumbing for the store: the file, migrations, and group commit.

All writes share one connection and go through one flush loop. Concurrent write requests that arrive while a
transaction is being committed are gathered into the next one (group commit), so one fsync covers many accepted
messages and durability does not cap throughput.

Where each step runs, and why:
- COMMIT (the fsync) runs on the writer thread. BEGIN IMMEDIATE runs on the loop when the write lock is free (it
  always is unless another process holds it) and waits on the writer thread when it is not.
- A request's own statements (`write`: a handful of rows found by key) run on the event loop, between the two.
  Python's sqlite3 releases the GIL around every statement; run on a second thread, each of them had to win the
  GIL back from a busy event loop (up to the 5 ms switch interval), and the hand-offs, not the fsync, set the
  latency of OTP sends under load (bench/bench_otp.py: 2,900/s p99 29 ms -> 3,900/s p99 21 ms, wrk).
- Work over an unbounded number of rows (`write_bulk`: sweeps, pruning, recovery) runs on the writer thread, so a
  large one cannot freeze the loop.
Each request runs in its own savepoint, so a failing request rolls back alone and the others of its batch commit,
in one pass. (A first version ran the batch without savepoints and, when one request failed, rolled everything back
and ran the whole batch again: one bad request per batch, which any client could send, doubled the work of every
batch. A savepoint costs ~3 us per request: SAVEPOINT, RELEASE, and the copies of the pages the request changes;
Store.enqueue in-process with 50 producers went from 28,000 to 26,000/s.)
Reads use a second connection on a second thread; in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...domain.errors import StorageError

Work = Callable[[sqlite3.Connection], Any]
log = logging.getLogger(__name__)


# A request that raises Refused (store.errors: a rate limit, a full queue) has written nothing; like any exception a
# request raises, it fails that request alone and the others in its batch commit.

# Largest number of write requests committed in one transaction: bounds how long a single commit can hold the
# writer (and the latency of the last request in it).
MAX_BATCH = 1000
# Write requests waiting for their batch at most: past it a request is refused at once (StorageError: the API answers
# 503 with Retry-After) instead of the list growing without bound while the disk or another process holds the writer
# up. Twenty batches: seconds of work at the measured rates, far more than a healthy daemon ever has waiting.
MAX_PENDING = 20 * MAX_BATCH


# How long a statement waits for a lock another process holds (sqlite3's busy handler).
BUSY_TIMEOUT_MS = 30000


def open_connection(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is fsynced, so a 202 survives power loss, not only a crash (SQLite docs on WAL + NORMAL).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


def create_private_file(path: Path) -> None:
    """The database holds phone numbers and message texts: mode 0600 from the first byte, not chmod'ed later."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def migrate(conn: sqlite3.Connection, migrations: list[str]) -> int:
    """Apply the migrations past PRAGMA user_version, each in its own transaction. Returns the new version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise RuntimeError(f"database schema version {version} is newer than this modemd ({len(migrations)})")
    for number, script in enumerate(migrations[version:], version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(migrations)


def _statements(script: str) -> list[str]:
    """Split a script into statements; sqlite3.complete_statement knows about quotes and comments."""
    statements, current = [], ""
    for line in (script.rstrip().rstrip(";") + ";").splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip().rstrip(";").strip():
                statements.append(current.strip())
            current = ""
    return statements


# A `write` that holds the event loop longer than this is named in the log once: it belongs in write_bulk.
SLOW_ON_LOOP = 0.05
_named_slow: set[str] = set()


def _check_held(work: Work, seconds: float) -> None:
    if seconds > SLOW_ON_LOOP:
        name = getattr(work, "__qualname__", repr(work))
        if name not in _named_slow:
            _named_slow.add(name)
            log.warning("a database write held the event loop for %.0f ms (%s): work over many rows belongs in "
                        "write_bulk", seconds * 1000, name)


# SQLite's primary result codes that say the storage itself failed, not the request (sqlite.org/rescode.html).
_STORAGE_FAILURES = {3: "PERM", 5: "BUSY", 6: "LOCKED", 7: "NOMEM", 8: "READONLY", 10: "IOERR", 11: "CORRUPT",
                     13: "FULL", 14: "CANTOPEN", 15: "PROTOCOL", 26: "NOTADB"}


def _storage_failure(exc: sqlite3.Error) -> bool:
    """True if the storage failed (callers get StorageError and answer "try later"). Anything else, a constraint
    violated or a bad statement, is a bug and stays what it is."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _STORAGE_FAILURES


@dataclass
class _Request:
    work: Work
    future: asyncio.Future
    bulk: bool


class Database:
    def __init__(self, path: Path):
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-reader")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._pending: list[_Request] = []
        self._flushing = False

    async def open(self, migrations: list[str]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._open_writer, migrations)
        self._rconn = await loop.run_in_executor(self._reader, lambda: open_connection(self.path, readonly=True))

    def _open_writer(self, migrations: list[str]) -> None:
        create_private_file(self.path)
        self._wconn = open_connection(self.path)
        migrate(self._wconn, migrations)

    async def close(self) -> None:
        while self._pending or self._flushing:
            await asyncio.sleep(0.005)
        loop = asyncio.get_running_loop()
        if self._wconn:
            await loop.run_in_executor(self._writer, self._wconn.close)
        if self._rconn:
            await loop.run_in_executor(self._reader, self._rconn.close)
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    async def write(self, work: Work) -> Any:
        """Run work(conn) in a transaction shared with other concurrent writes; returns once it is durable.
        work runs on the event loop: it must touch a bounded handful of rows through indexes (one request's worth).
        Anything that scans or changes an open-ended set of rows goes to write_bulk."""
        return await self._submit(work, bulk=False)

    async def write_bulk(self, work: Work) -> Any:
        """Like write, but work runs on the writer thread: for sweeps over any number of rows."""
        return await self._submit(work, bulk=True)

    async def read(self, work: Work) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader, work, self._rconn)
        except sqlite3.Error as exc:
            if _storage_failure(exc):
                raise StorageError(f"database unavailable: {exc}") from exc
            raise

    async def _submit(self, work: Work, bulk: bool) -> Any:
        loop = asyncio.get_running_loop()
        if not bulk and len(self._pending) >= MAX_PENDING:     # the daemon's own sweeps are few: never refused
            raise StorageError(f"database behind by {len(self._pending)} writes (is the disk slow, or another "
                               "process holding the write lock?)")
        request = _Request(work, loop.create_future(), bulk)
        self._pending.append(request)
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush_loop())
        try:
            return await request.future
        except sqlite3.Error as exc:
            if _storage_failure(exc):
                raise StorageError(f"database unavailable: {exc}") from exc
            raise

    async def _flush_loop(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    results = await self._transaction(batch)
                except BaseException as exc:   # the commit itself failed: nothing in the batch is durable
                    results = [exc] * len(batch)
                for request, result in zip(batch, results):
                    if request.future.done():
                        continue
                    if isinstance(result, BaseException):
                        request.future.set_exception(result)
                    else:
                        request.future.set_result(result)
        finally:
            self._flushing = False

    async def _transaction(self, batch: list[_Request]) -> list[Any]:
        """One transaction for the batch, each request in its own savepoint (_run_one): a request's exception is its
        result, and only a failure of the transaction itself (COMMIT, a disk error) fails them all."""
        loop, conn = asyncio.get_running_loop(), self._wconn
        await self._begin(loop, conn)
        try:
            results = []
            for request in batch:
                if request.bulk:
                    results.append(await loop.run_in_executor(self._writer, self._run_one, conn, request.work))
                else:
                    started = time.perf_counter()
                    results.append(self._run_one(conn, request.work))
                    _check_held(request.work, time.perf_counter() - started)
            await loop.run_in_executor(self._writer, conn.execute, "COMMIT")
            return results
        except BaseException:
            # On the writer thread, after whatever it still runs (a cancelled await does not stop a COMMIT).
            await loop.run_in_executor(self._writer, self._rollback)
            raise

    async def _begin(self, loop: asyncio.AbstractEventLoop, conn: sqlite3.Connection) -> None:
        """Take the write lock. Only this daemon writes, so it is free and taking it is instant: on the loop, with
        no busy wait (a thread hop per batch saved). If another process holds it (an admin's sqlite3 shell, say),
        wait for it on the writer thread, never on the loop."""
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if conn.in_transaction or exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await loop.run_in_executor(self._writer, conn.execute, "BEGIN IMMEDIATE")

    def _rollback(self) -> None:
        if self._wconn.in_transaction:
            self._wconn.execute("ROLLBACK")

    @staticmethod
    def _run_one(conn: sqlite3.Connection, work: Work) -> Any:
        conn.execute("SAVEPOINT request")
        try:
            result = work(conn)
        except Exception as exc:
            if not conn.in_transaction:     # SQLite rolled the whole transaction back (disk full, I/O error):
                raise                       # nothing in this batch can commit now
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            return exc
        conn.execute("RELEASE request")
        return result
