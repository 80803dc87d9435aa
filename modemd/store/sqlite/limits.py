"""Rate limits in the database, for every send path (OTP in otp.py, plain SMS in queue.py).

The rate_events rows are the truth (a restart does not reset a counter). Counting them in SQL costs O(limit) per
check (OFFSET walks the index: 10,000 steps for the daily per-country cap), so the store keeps an exact in-memory
copy of the last day's rows (RateIndex), loaded from the table on first use and checked against it (max(rowid))
before every use: a rolled-back insert takes its hits back out (the index remembers its recent inserts), a prune or
any other writer makes it reload. Checks and inserts both run inside one write callable, and database.py runs write
callables one at a time inside the write transaction (on the loop, or on the writer thread for write_bulk, never
both at once), so check-and-insert is race-free.
"""

from __future__ import annotations

import bisect
import sqlite3
import weakref
from collections import deque

from ..errors import RateLimited
from ..records import Limit
from .database import MAX_BATCH


def table_retry_after(conn: sqlite3.Connection, limit: Limit, now: float, earlier: int = 0) -> float:
    """0 if one more hit fits in the limit's sliding window, else seconds until the oldest counted hit leaves it.
    `earlier`: hits on the bucket this request counts before this one (not in the table yet). Straight from the
    table: the reference the in-memory index must agree with, and its fallback."""
    if earlier >= limit.limit:
        return limit.window           # the request's own hits fill the window: they leave it after a whole one
    # The (limit - earlier)-th newest hit in the window, found by SQLite in the index (no rows copied into Python).
    row = conn.execute("SELECT at FROM rate_events WHERE bucket = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                       (limit.bucket, now - limit.window, limit.limit - earlier - 1)).fetchone()
    if row is None:
        return 0.0
    return row["at"] + limit.window - now


INDEX_HORIZON = 86400.0      # the index loads the last day of hits; a window reaching further back is counted in SQL
TRIM_EVERY = 60.0            # seconds between drops of hits that no window seen so far can count any more
# hit_all calls remembered for taking back: a request makes at most one, so two batches' worth covers a rolled-back
# savepoint and a whole rolled-back transaction (a failed COMMIT); anything older is reloaded.
RECENT_INSERTS = 2 * MAX_BATCH
_MAX_ROWID = 2 ** 63 - 1


def _kind(bucket: str) -> str:
    return bucket.partition(":")[0]            # "otp-send:+49..." -> "otp-send": one window per kind in practice


class RateIndex:
    """Exact copy of the rate_events rows the limits can still count, per bucket, sorted by time; touched only
    inside the database's write callables.

    Exact means: whenever covers(limit, now) is true, retry_after(limit, now) returns what table_retry_after()
    would return on the same connection at the same moment (tests/test_api_otp.py compares them); otherwise the
    caller asks SQL. It holds because
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

    def retry_after(self, limit: Limit, now: float, earlier: int = 0) -> float:
        """table_retry_after without SQL: the (limit - earlier)-th newest hit of the bucket, if it is inside the
        window."""
        if earlier >= limit.limit:
            return limit.window
        room = limit.limit - earlier
        hits = self.buckets.get(limit.bucket)
        if not hits or len(hits) < room:
            return 0.0
        at = hits[-room]
        return at + limit.window - now if at > now - limit.window else 0.0

    def hit_all(self, conn: sqlite3.Connection, limits: list[Limit], now: float) -> None:
        """Check every limit, then count one hit on each (rows and index), or raise RateLimited having counted none.
        A bucket named n times (a batch's messages each count against their app) is n hits, each checked with the
        ones before it counted, as if they had come one after another."""
        self.sync(conn, now)
        earlier: dict[str, int] = {}
        for limit in limits:
            before = earlier.get(limit.bucket, 0)
            earlier[limit.bucket] = before + 1
            covered = self.covers(conn, limit, now)
            wait = (self.retry_after(limit, now, before) if covered
                    else table_retry_after(conn, limit, now, before))
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
_INDEXES: "weakref.WeakKeyDictionary[object, RateIndex]" = weakref.WeakKeyDictionary()


def index_of(db: object) -> RateIndex:
    index = _INDEXES.get(db)
    if index is None:
        index = _INDEXES[db] = RateIndex()
    return index
