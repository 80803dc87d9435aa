"""Hot rate-limit buckets counted without waits between hosts: each host leases a block of hits at a time.

Every OTP send of every host counts against the same large buckets: the app's token (1,000 an hour) and the
country (10,000 a day). Counted in the accepting transaction (limits.modemd_hit), a bucket's advisory lock is held
until that transaction commits, so the hosts' batches took turns on it: at 2,000 sends/s two of three backends were
found waiting on such a lock (bench/bench_fleet.py). Here a host takes a large bucket's hits from the database in
blocks: one short statement (modemd_lease, under the same lock, committed at once) counts a block of hits in the
bucket's current slot of rate_slots, as if they happened now, and the host hands them out to its requests with no
database work. A limit stays global: the leases of all hosts are counted hits, so their sum never passes the cap.

The rules that keep it so, and keep the count near what was used:
- Only slot-counted limits (limits.exact() false: more than EXACT_UP_TO hits) are leased. A number's few codes
  and its resend gap are counted in the transaction as before (their buckets are per number: nobody waits on them).
- A lease covers one slot (the window / SLOTS seconds): a hit taken from it happens in that slot, where the lease
  counted it, so it leaves the window when a hit made then would.
- A lease lives TTL seconds at most. What was not used goes back (the slot's count lowered) when it ends, with the
  next lease's statement or by the sweeper, and when the store closes. A host that dies keeps its unused hits
  counted until their slot leaves the window: fewer sends allowed, never more.
- A lease asks for what this host used of the last one (doubled when it ran out, up to MAX_BLOCK), and is granted
  at most a quarter of the room left (at least 1; modemd_lease): near the cap leases are single hits, so the hits
  other hosts hold unused, the only way a request is refused while the cap has room, stay few and go back within
  TTL.
- A request that is refused or fails gives its hits back to the lease they came from (a lease that ended meanwhile
  returns them to the database); a request cancelled while its transaction may still commit keeps them (a hit
  counted and not used only refuses early).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import psycopg

from ...domain.errors import StorageError
from ..errors import RateLimited
from ..records import Limit
from .database import Database
from .limits import exact, slot_width

log = logging.getLogger(__name__)

TTL = 0.5                   # seconds a lease's unused hits stay this host's
FIRST_BLOCK = 8             # hits the first lease of a bucket asks for
MAX_BLOCK = 512             # ~0.25 s of 2,000 sends/s
CLOSE_WAIT = 2.0            # seconds closing waits to give unused hits back (a database that is gone: it does not)

_LEASE = ("SELECT lease_slot, granted, retry_after FROM modemd_lease(%s, %s, %s, %s, %s, %s, %s)")
_RETURN = "UPDATE rate_slots SET n = greatest(n - %s, 0) WHERE bucket = %s AND width = %s AND slot = %s"


@dataclass(eq=False)
class _Lease:
    bucket: str
    width: float
    slot: int
    granted: int
    ends: float                     # time.monotonic() when its unused hits go back
    used: int = 0
    closed: bool = False

    def serves(self, now: float) -> bool:
        return not self.closed and self.used < self.granted and time.monotonic() < self.ends and \
            math.floor(now / self.width) == self.slot


@dataclass
class Taken:
    """The hits one request took: give them back (Leases.give_back) unless the request was accepted."""
    leases: list[_Lease] = field(default_factory=list)


def split(limits: Sequence[Limit]) -> tuple[list[Limit], list[Limit]]:
    """(the limits a host leases, the ones counted in the transaction)."""
    return [l for l in limits if not exact(l)], [l for l in limits if exact(l)]


class Leases:
    """This host's leases, on `db` (the store's Database)."""

    def __init__(self, db: Database):
        self.db = db
        self._current: dict[tuple[str, float], _Lease] = {}
        self._asking: dict[tuple[str, float], int] = {}            # what the next lease of a bucket asks for
        self._refilling: dict[tuple[str, float], asyncio.Future] = {}
        self._unreturned: dict[tuple[str, float, int], int] = {}   # (bucket, width, slot) -> hits to give back
        self._sweeper: asyncio.Task | None = None

    async def take(self, limits: Sequence[Limit], now: float) -> Taken:
        """One hit of each limit for a request at `now` (the leased ones: split()), or RateLimited having kept none."""
        taken = Taken()
        try:
            for limit in limits:
                taken.leases.append(await self._take_one(limit, now))
        except Exception:
            self.give_back(taken)
            raise
        return taken

    def give_back(self, taken: Taken) -> None:
        """The request that took these hits was not accepted: they are free again."""
        for lease in taken.leases:
            if not lease.closed:
                lease.used -= 1
            else:                       # its unused hits went back without this one: it goes back on its own
                self._queue_return(lease.bucket, lease.width, lease.slot, 1)
                self._sweep_soon()
        taken.leases.clear()

    async def close(self) -> None:
        """Every unused hit back to the database (the store is closing)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for lease in list(self._current.values()):
            self._end(lease)
        try:
            await asyncio.wait_for(self._return_unused(), CLOSE_WAIT)
        except (StorageError, asyncio.TimeoutError) as exc:
            log.debug("leased hits not given back on close (they count until their slot leaves): %r", exc)

    # ---- leasing -------------------------------------------------------------------------------------------------
    async def _take_one(self, limit: Limit, now: float) -> _Lease:
        key = (limit.bucket, slot_width(limit))
        while True:
            lease = self._current.get(key)
            if lease is not None and lease.serves(now):
                lease.used += 1
                return lease
            waiting = self._refilling.get(key)
            if waiting is not None:         # one lease at a time per bucket: the others wait for it, then take
                await asyncio.shield(waiting)
                continue
            done = asyncio.get_running_loop().create_future()
            self._refilling[key] = done
            try:
                lease = await self._lease(limit, now, self._current.get(key))
            finally:
                del self._refilling[key]
                done.set_result(None)
            lease.used += 1
            return lease

    async def _lease(self, limit: Limit, now: float, old: _Lease | None) -> _Lease:
        """A new lease for the bucket, the old one's unused hits given back in the same statement."""
        width = slot_width(limit)
        back_slot, back = (old.slot, self._end(old, queue=False)) if old is not None else (None, 0)
        asked = self._asking.get((limit.bucket, width), FIRST_BLOCK)
        try:
            slot, granted, retry_after = await self.db.write_one(lambda conn: _one_row(conn, _LEASE, (
                limit.bucket, int(limit.limit), float(limit.window), float(now), asked, back_slot, back)))
        except StorageError:
            if back:                        # not given back: the sweeper tries again
                self._queue_return(limit.bucket, width, back_slot, back)
                self._sweep_soon()
            raise
        if not granted:
            raise RateLimited(limit.bucket, retry_after)
        lease = _Lease(limit.bucket, width, slot, granted, time.monotonic() + TTL)
        self._current[(limit.bucket, width)] = lease
        self._sweep_soon()
        return lease

    def _end(self, lease: _Lease, *, queue: bool = True) -> int:
        """Close a lease; its unused hits, queued to go back unless `queue` is false (the caller returns them)."""
        lease.closed = True
        key = (lease.bucket, lease.width)
        if self._current.get(key) is lease:
            del self._current[key]
        unused = max(lease.granted - lease.used, 0)
        # Used up: this host wants more than it asked for; else about what it used in a lease's life.
        asked = self._asking.get(key, FIRST_BLOCK)
        self._asking[key] = min(asked * 2, MAX_BLOCK) if not unused else max(lease.used, 1)
        if queue and unused:
            self._queue_return(lease.bucket, lease.width, lease.slot, unused)
        return unused

    def _queue_return(self, bucket: str, width: float, slot: int, n: int) -> None:
        key = (bucket, width, slot)
        self._unreturned[key] = self._unreturned.get(key, 0) + n

    # ---- the sweeper: leases that outlived TTL, and hits to give back -----------------------------------------
    def _sweep_soon(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="rate-leases")

    async def _sweep(self) -> None:
        while self._current or self._unreturned:
            await asyncio.sleep(TTL / 2)
            for lease in [l for l in self._current.values() if time.monotonic() >= l.ends]:
                self._end(lease)
            try:
                await self._return_unused()
            except StorageError as exc:
                log.debug("leased hits not given back yet: %s", exc)

    async def _return_unused(self) -> None:
        if not self._unreturned:
            return
        returns, self._unreturned = self._unreturned, {}
        try:
            await self.db.write(lambda conn: _return(conn, returns))
        except StorageError:
            for key, n in returns.items():      # kept for the next round
                self._unreturned[key] = self._unreturned.get(key, 0) + n
            raise


async def _one_row(conn: psycopg.AsyncConnection, sql: str, params: tuple) -> tuple:
    return await (await conn.execute(sql, params)).fetchone()


async def _return(conn: psycopg.AsyncConnection, returns: dict[tuple[str, float, int], int]) -> None:
    async with conn.cursor() as cursor:
        await cursor.executemany(_RETURN, [(n, bucket, width, slot) for (bucket, width, slot), n in returns.items()])
