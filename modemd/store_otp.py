"""SQL for one-time passcodes and rate limits (the message queue's SQL is in store.py; both share one database).

An OTP row holds only HMAC-SHA256(server secret, verification id || code); the code itself is never stored.
Issuing writes the verification, its queued SMS and the rate-limit hits in one transaction.

Rate limits: the rate_events rows are the truth (a restart does not reset a counter). Counting them in SQL costs
O(limit) per check (OFFSET walks the index: 10,000 steps for the daily per-country cap), so the store keeps
an exact in-memory copy of the last day's rows (_RateIndex), loaded from the table on first use and checked against
it (max(rowid)) before every use: a rolled-back insert takes its hits back out (the index remembers its recent
inserts), a prune or any other writer makes it reload. Checks and
inserts both run inside one write callable, and db.py runs write callables one at a time inside the write
transaction (on the loop, or on the writer thread for write_bulk, never both at once), so check-and-insert is
race-free.
"""

from __future__ import annotations

import bisect
import sqlite3
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Callable

from .sms import OutboundSms
from .db import MAX_BATCH, Refused
from .store import Store, _insert



# After this long without a wrong code, a number's run of consecutive failures starts again: the lock is a
# defence against guessing, not a sentence (NIST SP 800-63B 5.2.2 allows the lock to lift after a while).
LOCK_DECAY = 24 * 3600.0


@dataclass(frozen=True)
class Limit:
    bucket: str
    limit: int
    window: float           # seconds

    def retry_after(self, conn: sqlite3.Connection, now: float) -> float:
        """0 if one more hit fits in the sliding window, else seconds until the oldest counted hit leaves it.
        Straight from the table: the reference the in-memory index must agree with, and its fallback."""
        # The limit-th newest hit in the window, found by SQLite in the index (no rows copied into Python).
        row = conn.execute("SELECT at FROM rate_events WHERE bucket = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                           (self.bucket, now - self.window, self.limit - 1)).fetchone()
        if row is None:
            return 0.0
        return row["at"] + self.window - now


INDEX_HORIZON = 86400.0      # the index loads the last day of hits; a window reaching further back is counted in SQL
TRIM_EVERY = 60.0            # seconds between drops of hits that no window seen so far can count any more
# hit_all calls remembered for taking back: a request makes at most one, so two batches' worth covers a rolled-back
# savepoint and a whole rolled-back transaction (a failed COMMIT); anything older is reloaded.
RECENT_INSERTS = 2 * MAX_BATCH
_MAX_ROWID = 2 ** 63 - 1


def _kind(bucket: str) -> str:
    return bucket.partition(":")[0]            # "otp-send:+49..." -> "otp-send": one window per kind in practice


class _RateIndex:
    """Exact copy of the rate_events rows the limits can still count, per bucket, sorted by time; touched only inside db write callables.

    Exact means: whenever covers(limit, now) is true, retry_after(limit, now) returns what Limit.retry_after() would
    return on the same connection at the same moment (tests/test_api_otp.py compares them); otherwise the caller asks
    SQL. It holds because
    - every insert into rate_events goes through hit_all(), and sync() compares max(rowid) with the one the index
      last wrote: lower after a rolled-back savepoint or transaction, which removes the newest rows (their rowids are
      given out again), so it takes back the hits of its newest inserts down to that rowid (`recent`); a prune, a
      write by anything else, or a rollback reaching past what it remembers makes it reload the table;
    - a load takes every row newer than now - horizon (`floor`); a window reaching back past it goes to SQL;
    - trimming drops a bucket's hits older than the largest window seen for its kind ("otp-send", "otp-gap", ...),
      so per-number buckets live minutes, not a day; a window larger than that (a reloaded config) reloads first,
      and a clock that went back behind the last trim goes to SQL."""

    def __init__(self, horizon: float = INDEX_HORIZON):
        self.horizon = horizon
        self.buckets: dict[str, list[float]] = {}
        self.windows: dict[str, float] = {}         # kind -> largest window checked since the last load
        self.last_rowid: int | None = None          # None: not loaded (or invalidated)
        self.floor = float("-inf")                  # hits at or before floor were not loaded
        self.trimmed_at = float("-inf")             # `now` of the last trim
        self.next_trim = 0.0
        # (first rowid, buckets, at) of each recent hit_all: what a rollback takes back. Not a day of rows reloaded
        # on the event loop: a request any client can make fail (bad input) must not cost O(table).
        self.recent: deque[tuple[int, tuple[str, ...], float]] = deque(maxlen=RECENT_INSERTS)

    def sync(self, conn: sqlite3.Connection, now: float) -> None:
        rowid = conn.execute("SELECT max(rowid) FROM rate_events").fetchone()[0] or 0
        if rowid != self.last_rowid and not self._take_back(rowid):
            self._load(conn, now, rowid)
        elif now >= self.next_trim:
            self._trim(now)

    def _take_back(self, rowid: int) -> bool:
        """Undo the hits of inserts a rollback removed (rowids above `rowid`); False if that does not explain it."""
        if self.last_rowid is None or rowid > self.last_rowid:
            return False
        while self.recent and self.recent[-1][0] > rowid:
            first, buckets, at = self.recent.pop()
            for bucket in buckets:
                self._remove(bucket, at)
            self.last_rowid = first - 1
        return self.last_rowid == rowid

    def _remove(self, bucket: str, at: float) -> None:
        hits = self.buckets.get(bucket)
        i = bisect.bisect_left(hits, at) if hits else 0
        if hits and i < len(hits) and hits[i] == at:        # else trimmed already
            del hits[i]
            if not hits:
                del self.buckets[bucket]

    def _load(self, conn: sqlite3.Connection, now: float, rowid: int) -> None:
        floor = now - self.horizon
        buckets: dict[str, list[float]] = {}
        for bucket, at in conn.execute("SELECT bucket, at FROM rate_events WHERE at > ? ORDER BY at", (floor,)):
            hits = buckets.get(bucket)
            if hits is None:
                buckets[bucket] = [at]
            else:
                hits.append(at)
        self.buckets, self.floor, self.last_rowid = buckets, floor, rowid
        self.windows, self.trimmed_at, self.next_trim = {}, float("-inf"), now + TRIM_EVERY
        self.recent.clear()          # what it recorded is in the table or gone: a rollback from here reloads

    def _trim(self, now: float) -> None:
        horizon_cut = now - self.horizon
        for bucket in list(self.buckets):
            hits = self.buckets[bucket]
            cutoff = now - min(self.windows.get(_kind(bucket), self.horizon), self.horizon)
            if hits[-1] <= cutoff:
                del self.buckets[bucket]
            elif hits[0] <= cutoff:
                del hits[:bisect.bisect_right(hits, cutoff)]
        self.floor = max(self.floor, horizon_cut)
        self.trimmed_at = max(self.trimmed_at, now)
        self.next_trim = now + TRIM_EVERY

    def covers(self, conn: sqlite3.Connection, limit: Limit, now: float) -> bool:
        if limit.limit < 1 or now - limit.window < self.floor or now < self.trimmed_at:
            return False
        kind = _kind(limit.bucket)
        seen = self.windows.get(kind)
        if seen is None or limit.window > seen:
            if seen is not None and self.trimmed_at > float("-inf"):
                self._load(conn, now, self.last_rowid)      # trimmed for a smaller window: load it all again
            self.windows[kind] = limit.window
        return True

    def retry_after(self, limit: Limit, now: float) -> float:
        """Limit.retry_after without SQL: the limit-th newest hit of the bucket, if it is inside the window."""
        hits = self.buckets.get(limit.bucket)
        if not hits or len(hits) < limit.limit:
            return 0.0
        at = hits[-limit.limit]
        return at + limit.window - now if at > now - limit.window else 0.0

    def hit_all(self, conn: sqlite3.Connection, limits: list[Limit], now: float) -> None:
        """Check every limit, then count one hit on each (rows and index), or raise RateLimited having counted none."""
        self.sync(conn, now)
        for limit in limits:
            wait = self.retry_after(limit, now) if self.covers(conn, limit, now) else limit.retry_after(conn, now)
            if wait > 0:
                raise RateLimited(limit.bucket, wait)
        if not limits:
            return
        # One statement for all the rows; SQLite gives each new row max(rowid) + 1 (until rowids run out, then
        # random ones: read back). A wrong guess costs only a reload at the next sync.
        conn.execute("INSERT INTO rate_events (bucket, at) VALUES " + ", ".join(["(?, ?)"] * len(limits)),
                     [v for l in limits for v in (l.bucket, now)])
        if self.last_rowid + len(limits) < _MAX_ROWID:
            self.recent.append((self.last_rowid + 1, tuple(limit.bucket for limit in limits), now))
            self.last_rowid += len(limits)
        else:
            self.recent.clear()                     # random rowids: a rollback cannot be explained, it reloads
            self.last_rowid = conn.execute("SELECT max(rowid) FROM rate_events").fetchone()[0]
        for limit in limits:
            hits = self.buckets.get(limit.bucket)
            if hits is None:
                self.buckets[limit.bucket] = [now]
            elif now >= hits[-1]:
                hits.append(now)
            else:                                   # the wall clock went back
                bisect.insort(hits, now)

    def invalidate(self) -> None:
        self.last_rowid = None


# One index per Database (= per writer connection), however many OtpStore objects share it.
_INDEXES: "weakref.WeakKeyDictionary[object, _RateIndex]" = weakref.WeakKeyDictionary()


def _index_of(db: object) -> _RateIndex:
    index = _INDEXES.get(db)
    if index is None:
        index = _INDEXES[db] = _RateIndex()
    return index


@dataclass(frozen=True)
class Verification:
    id: str
    destination: str
    code_hmac: bytes
    created_at: float
    expires_at: float
    attempts: int
    max_attempts: int
    status: str
    message_id: str
    app: str = "default"          # the app that asked for the code: only it (and admin) can check it


class RateLimited(Refused):
    """Raised by a write request before it writes anything (db.Refused): its batch commits without it."""

    def __init__(self, bucket: str, retry_after: float):
        super().__init__(f"rate limit {bucket}")
        self.bucket = bucket
        self.retry_after = retry_after


@dataclass(frozen=True)
class VerifyOutcome:
    status: str                   # approved | pending | expired | max_attempts_reached | not_found
    attempts_left: int | None = None
    verification_id: str | None = None


class OtpStore:
    def __init__(self, store: Store):
        self.db = store.db
        self._index = _index_of(self.db)

    async def issue(self, verification: Verification, sms: OutboundSms, limits: list[Limit],
                    bound: int | None = None) -> None:
        """Check the limits, supersede the number's pending code, write the verification and its SMS: atomically.
        Raises RateLimited (and writes nothing) when a limit is reached."""
        await self.db.write(lambda conn: _issue(conn, self._index, verification, sms, limits, bound))

    async def hit(self, limits: list[Limit], now: float) -> None:
        """Count one event against each limit, or raise RateLimited without counting any."""
        await self.db.write(lambda conn: self._index.hit_all(conn, limits, now))

    async def verify(self, destination: str | None, verification_id: str | None, now: float,
                     check: Callable[[Verification | None], bool], lock_after: int,
                     limits: Callable[[Verification], list[Limit]] = lambda v: [], app: str | None = None
                     ) -> VerifyOutcome:
        """Find the app's code (app None: any app's, for admin), count a hit on the limits of what was found
        (RateLimited: nothing else happens), apply expiry and attempt caps, compare with `check`, consume on
        success: one transaction, one commit to wait for. A code that does not exist (or is another app's) counts
        against nothing and writes nothing: junk verifies cannot lock out a number, nor grow a table."""
        def work(conn):
            v = _find(conn, destination, verification_id, app)
            if v is not None and v.status in ("pending", "max_attempts_reached"):
                self._index.hit_all(conn, limits(v), now)
            return _verify(conn, v, now, check, lock_after)
        return await self.db.write(work)

    async def unlock(self, destination: str, app: str | None = None) -> int:
        """An admin lifts the wrong-code lock of a number (one app's, or every app's with None). Returns how many
        locks (counts of consecutive failures) were removed."""
        return await self.db.write(lambda conn: _unlock(conn, destination, app))

    async def prune(self, now: float, keep: float) -> None:
        def work(conn):
            _prune(conn, now, keep)
            self._index.invalidate()
            self._index.sync(conn, now)       # reloaded here, on the writer thread, not by the next send
        await self.db.write_bulk(work)


def _issue(conn: sqlite3.Connection, index: _RateIndex, v: Verification, sms: OutboundSms,
           limits: list[Limit], bound: int | None = None) -> None:
    index.hit_all(conn, limits, v.created_at)
    # A new send supersedes the pending code; its SMS, if not sent yet, is not worth sending any more.
    # Only the same app's: two apps sending codes to one person (a shop and a bank) keep their own codes.
    old = conn.execute("UPDATE otp_verifications SET status = 'superseded' WHERE app = ? AND destination = ? AND "
                       "status = 'pending' RETURNING message_id", (v.app, v.destination)).fetchall()
    for row in old:
        conn.execute("UPDATE messages SET state = 'canceled', body = NULL, updated_at = ?, error_text = "
                     "'superseded by a newer code' WHERE id = ? AND state = 'queued'", (v.created_at,
                                                                                       row["message_id"]))
    conn.execute("INSERT INTO otp_verifications (id, destination, code_hmac, created_at, expires_at, attempts, "
                 "max_attempts, status, message_id, app) VALUES (?, ?, ?, ?, ?, 0, ?, 'pending', ?, ?)",
                 (v.id, v.destination, v.code_hmac, v.created_at, v.expires_at, v.max_attempts, v.message_id,
                  v.app))
    _insert(conn, sms, bound)


def _find(conn: sqlite3.Connection, destination: str | None, verification_id: str | None,
          app: str | None) -> Verification | None:
    """The verification by id, or the number's latest; only the app's own unless app is None (admin)."""
    mine, args = ("", ()) if app is None else (" AND app = ?", (app,))
    if verification_id:
        row = conn.execute(f"SELECT * FROM otp_verifications WHERE id = ?{mine}",
                           (verification_id, *args)).fetchone()
    else:
        row = conn.execute(f"SELECT * FROM otp_verifications WHERE destination = ?{mine} ORDER BY created_at DESC "
                           "LIMIT 1", (destination, *args)).fetchone()
    return Verification(**dict(row)) if row else None


def _verify(conn: sqlite3.Connection, v: Verification | None, now: float,
            check: Callable[[Verification | None], bool], lock_after: int) -> VerifyOutcome:
    matched = check(v)          # always computed, found or not: the same work either way
    if v is None or v.status not in ("pending", "max_attempts_reached"):
        return VerifyOutcome("not_found")
    if v.status == "max_attempts_reached" or v.attempts >= v.max_attempts:
        return VerifyOutcome("max_attempts_reached", 0, v.id)
    if now >= v.expires_at:
        conn.execute("UPDATE otp_verifications SET status = 'expired' WHERE id = ?", (v.id,))
        return VerifyOutcome("expired", None, v.id)
    if _failures(conn, v, now) >= lock_after:
        return VerifyOutcome("max_attempts_reached", 0, v.id)
    if matched:
        # Single use: the row goes at once, so a second verify of the same code finds nothing.
        conn.execute("DELETE FROM otp_verifications WHERE id = ? AND status = 'pending'", (v.id,))
        conn.execute("DELETE FROM otp_failures WHERE app = ? AND destination = ?", (v.app, v.destination))
        return VerifyOutcome("approved", None, v.id)
    return _wrong_code(conn, v, now)


def _wrong_code(conn: sqlite3.Connection, v: Verification, now: float) -> VerifyOutcome:
    attempts = v.attempts + 1
    status = "max_attempts_reached" if attempts >= v.max_attempts else "pending"
    conn.execute("UPDATE otp_verifications SET attempts = ?, status = ? WHERE id = ?", (attempts, status, v.id))
    # Consecutive failures per app and number survive resends and restarts (NIST SP 800-63B 5.2.2); a run that
    # stopped LOCK_DECAY ago starts again from one.
    conn.execute("INSERT INTO otp_failures (app, destination, consecutive, last_at) VALUES (?, ?, 1, ?) "
                 "ON CONFLICT(app, destination) DO UPDATE SET last_at = excluded.last_at, consecutive = "
                 "CASE WHEN last_at < ? THEN 1 ELSE consecutive + 1 END", (v.app, v.destination, now, now - LOCK_DECAY))
    return VerifyOutcome(status, v.max_attempts - attempts, v.id)


def _failures(conn: sqlite3.Connection, v: Verification, now: float) -> int:
    row = conn.execute("SELECT consecutive, last_at FROM otp_failures WHERE app = ? AND destination = ?",
                       (v.app, v.destination)).fetchone()
    return row["consecutive"] if row and row["last_at"] >= now - LOCK_DECAY else 0


def _unlock(conn: sqlite3.Connection, destination: str, app: str | None) -> int:
    mine, args = ("", ()) if app is None else (" AND app = ?", (app,))
    return conn.execute(f"DELETE FROM otp_failures WHERE destination = ?{mine}", (destination, *args)).rowcount


def _prune(conn: sqlite3.Connection, now: float, keep: float) -> None:
    conn.execute("DELETE FROM rate_events WHERE at < ?", (now - keep,))
    conn.execute("DELETE FROM otp_verifications WHERE expires_at < ?", (now - keep,))
    conn.execute("DELETE FROM otp_failures WHERE last_at < ?", (now - LOCK_DECAY,))   # decayed: nothing to keep
