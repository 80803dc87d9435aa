"""SQLite plumbing for the store: the file, migrations, and group commit off the event loop.

All writes go through one writer thread. Concurrent write requests that arrive while a transaction is being
committed are gathered into the next one (group commit), so one fsync covers many accepted messages and durability
does not cap throughput. Each request runs under its own SAVEPOINT: one failing request rolls back alone.
Reads use a second connection on a second thread; in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

Work = Callable[[sqlite3.Connection], Any]


class Refused(Exception):
    """A write request that says no before it has written anything (a rate limit, say). By that contract the
    rest of its batch need not be rolled back: the request fails alone, the others commit."""

# Largest number of write requests committed in one transaction: bounds how long a single commit can hold the
# writer (and the latency of the last request in it).
MAX_BATCH = 1000


def open_connection(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
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


class Database:
    def __init__(self, path: Path):
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-reader")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._pending: list[tuple[Work, asyncio.Future]] = []
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
        """Run work(conn) in a transaction shared with other concurrent writes; returns once it is durable."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush_loop())
        return await future

    async def read(self, work: Work) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._reader, work, self._rconn)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    results = await loop.run_in_executor(self._writer, self._commit_batch, batch)
                except BaseException as exc:   # the commit itself failed: nothing in the batch is durable
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = False

    def _commit_batch(self, batch: list[tuple[Work, asyncio.Future]]) -> list[Any]:
        """Optimistic first: the whole batch in one transaction with no savepoints (each savepoint is two more
        statements, and every statement hands the GIL back to a busy event loop). If any request fails, the
        transaction is rolled back and the batch re-run with a savepoint per request, so a failing request still
        rolls back alone and the others commit."""
        conn = self._wconn
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = [self._run_optimistic(conn, work) for work, _ in batch]
            conn.execute("COMMIT")
            return results
        except Exception:
            conn.execute("ROLLBACK")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return self._commit_isolated(batch)

    def _commit_isolated(self, batch: list[tuple[Work, asyncio.Future]]) -> list[Any]:
        conn = self._wconn
        results: list[Any] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for work, _ in batch:
                results.append(self._run_one(conn, work))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return results

    @staticmethod
    def _run_optimistic(conn: sqlite3.Connection, work: Work) -> Any:
        try:
            return work(conn)
        except Refused as exc:      # nothing written: no reason to roll the batch back
            return exc

    @staticmethod
    def _run_one(conn: sqlite3.Connection, work: Work) -> Any:
        conn.execute("SAVEPOINT request")
        try:
            result = work(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            return exc
        conn.execute("RELEASE request")
        return result
