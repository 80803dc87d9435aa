"""One-time passcodes on PostgreSQL (store.OtpStore), shared by every host on the database: a code issued through
one host is checked through any other. Same behaviour as the SQLite store (store/sqlite/otp.py): a row holds only
HMAC-SHA256(server secret, verification id || code); issuing counts the limits, supersedes the app's pending code
for the number (its SMS, if still queued, is canceled through transitions.move), writes the verification and its
SMS, in one transaction; a verify counts the limits of the code it found, applies expiry, the attempt caps and the
wrong-code lock, and consumes the code on success, in one transaction.

What differs, and why: SQLite has one writer, so its transactions never overlap; here several hosts' transactions
do, and these locks keep the SQLite store's answers:
- Single use. A verify takes the verification's row lock (SELECT ... FOR UPDATE) before it looks at the row: two
  verifies of one code, on any hosts, take turns. Under READ COMMITTED the second one, granted the lock when the
  first commits, gets the row as that commit left it: deleted (approved) -> it is skipped, and the lookup gives
  what a verify after the approval would: none (not_found), or by number the next older code (superseded:
  not_found); updated (a wrong code counted) -> the second sees the new attempts. Exactly one of them is approved.
- Wrong codes. The attempt counter is raised in SQL (attempts = attempts + 1) under that row lock, and the run of
  consecutive failures by an upsert: concurrent wrong codes lose no count.
- One pending code per app and number. Issuing takes a transaction-level advisory lock on (app, number) before it
  supersedes: two hosts issuing at once take turns, and the second supersedes the first's code instead of both
  leaving one pending (without it, neither UPDATE would see the other's uncommitted row).
Lock order: an issue takes its rate-limit buckets, then the issue lock, then the rows it supersedes; a verify takes
its row, then its buckets (they depend on the row). The two never wait on each other's: a verify counts only verify
buckets (services/otp.py: otp-verify:...), an issue only send buckets. Were two bucket names to share a hash,
PostgreSQL's deadlock detector would end one of the transactions (StorageError, a 503 to retry), never a hang.

The rate limits are limits.py's: rate_events is the truth for every host, with no in-memory index (the SQLite
store's index would be wrong here, another host writes the same table); prune deletes old hits, nothing to reload.
"""

from __future__ import annotations

from typing import Callable

import psycopg
from psycopg.rows import dict_row

from ...domain.sms import OutboundSms, State
from ..records import LOCK_DECAY, Limit, Verification, VerifyOutcome, verify_step
from .limits import hit_all, prune as prune_limits, raise_if_refused, send_hits
from .queue import Store, insert_message
from .transitions import move

SUPERSEDED = "superseded by a newer code"
# pg_advisory_xact_lock(int4, int4) while issuing: the first key names the use (ASCII "ot", apart from limits.py's
# "rl"), the second is the hash of app and number (a collision only makes two numbers take turns).
ISSUE_LOCK_CLASS = 0x6F74
_COLUMNS = "id, destination, code_hmac, created_at, expires_at, attempts, max_attempts, status, message_id, app"


class OtpStore:
    """store.OtpStore on PostgreSQL, in the database of `store` (postgres.queue.Store)."""

    def __init__(self, store: Store):
        self.db = store.db

    async def issue(self, verification: Verification, sms: OutboundSms, limits: list[Limit],
                    bound: int | None = None) -> None:
        """Check the limits, supersede the number's pending code, write the verification and its SMS: atomically.
        Raises RateLimited (and writes nothing) when a limit is reached."""
        await self.db.batched(lambda conn: _issue(conn, verification, sms, limits, bound))

    async def hit(self, limits: list[Limit], now: float) -> None:
        """Count one event against each limit, or raise RateLimited without counting any."""
        await self.db.batched(lambda conn: hit_all(conn, limits, now))

    async def verify(self, destination: str | None, verification_id: str | None, now: float,
                     check: Callable[[Verification | None], bool], lock_after: int,
                     limits: Callable[[Verification], list[Limit]] = lambda v: [], app: str | None = None
                     ) -> VerifyOutcome:
        """Find the app's code (app None: any app's, for admin) and lock its row, count a hit on the limits of what
        was found (RateLimited: nothing else happens), apply expiry and attempt caps, compare with `check`, consume
        on success: one transaction. A code that does not exist (or is another app's) counts against nothing and
        writes nothing."""
        async def work(conn):
            v = await _find(conn, destination, verification_id, app)
            if v is None:
                return await _verify(conn, v, now, check, lock_after, 0)
            # The limits and the number's run of failures in one round trip (pipeline mode).
            async with conn.pipeline():
                hits = await send_hits(conn, limits(v), now) if v.status in ("pending", "max_attempts_reached") \
                    else None
                run = await conn.execute("SELECT consecutive, last_at FROM otp_failures WHERE app = %s AND "
                                         "destination = %s", (v.app, v.destination))
                await raise_if_refused(hits)
                row = await run.fetchone()
            failures = row[0] if row and row[1] >= now - LOCK_DECAY else 0
            return await _verify(conn, v, now, check, lock_after, failures)
        return await self.db.batched(work)

    async def unlock(self, destination: str, app: str | None = None) -> int:
        """An admin lifts the wrong-code lock of a number (one app's, or every app's with None). Returns how many
        locks (counts of consecutive failures) were removed."""
        return await self.db.write(lambda conn: _unlock(conn, destination, app))

    async def prune(self, now: float, keep: float) -> None:
        await self.db.write(lambda conn: _prune(conn, now, keep))


# ---- SQL, run inside a transaction of Database.write ------------------------------------------------------------
async def _rows(conn: psycopg.AsyncConnection, query: str, params: tuple) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()


async def _one(conn: psycopg.AsyncConnection, query: str, params: tuple) -> dict | None:
    rows = await _rows(conn, query, params)
    return rows[0] if rows else None


async def _issue(conn: psycopg.AsyncConnection, v: Verification, sms: OutboundSms, limits: list[Limit],
                 bound: int | None = None) -> None:
    # The limits, the number's lock and the supersede go out together (psycopg's pipeline mode): round trips, not
    # the work, were most of a send's time (bench/bench_fleet.py). If a limit refuses, the request's savepoint
    # (Database.batched) takes the supersede back with it.
    async with conn.pipeline():
        hits = await send_hits(conn, limits, v.created_at)
        await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                           (ISSUE_LOCK_CLASS, f"{v.app}\n{v.destination}"))
        # A new send supersedes the pending code; its SMS, if not sent yet, is not worth sending any more.
        # Only the same app's: two apps sending codes to one person (a shop and a bank) keep their own codes.
        superseded = await conn.execute("UPDATE otp_verifications SET status = 'superseded' WHERE app = %s AND "
                                        "destination = %s AND status = 'pending' RETURNING message_id",
                                        (v.app, v.destination))
        await raise_if_refused(hits)
        old = [{"message_id": row[0]} for row in await superseded.fetchall()]
    for row in old:           # a code already on its way (sending, sent) stays as it is: compare-and-set
        await move(conn, row["message_id"], State.QUEUED, State.CANCELED, SUPERSEDED, v.created_at,
                   sets={"body": None, "error_text": SUPERSEDED})
    verification = (f"INSERT INTO otp_verifications ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, 0, %s, 'pending', "
                    "%s, %s)", (v.id, v.destination, v.code_hmac, v.created_at, v.expires_at, v.max_attempts,
                                v.message_id, v.app))
    await insert_message(conn, sms, bound, along=[verification])


async def _find(conn: psycopg.AsyncConnection, destination: str | None, verification_id: str | None,
                app: str | None) -> Verification | None:
    """The verification by id, or the number's latest; only the app's own unless app is None (admin). Its row is
    locked until the transaction ends (see the module's docstring for what a concurrent verify then sees)."""
    mine, args = ("", ()) if app is None else (" AND app = %s", (app,))
    if verification_id:
        row = await _one(conn, f"SELECT {_COLUMNS} FROM otp_verifications WHERE id = %s{mine} FOR UPDATE",
                         (verification_id, *args))
    else:
        row = await _one(conn, f"SELECT {_COLUMNS} FROM otp_verifications WHERE destination = %s{mine} "
                               "ORDER BY created_at DESC LIMIT 1 FOR UPDATE", (destination, *args))
    if row is None:
        return None
    return Verification(**{**row, "code_hmac": bytes(row["code_hmac"])})     # bytea: bytes, whatever the loader


async def _verify(conn: psycopg.AsyncConnection, v: Verification | None, now: float,
                  check: Callable[[Verification | None], bool], lock_after: int, failures: int) -> VerifyOutcome:
    """`failures`: the app's and number's run of consecutive wrong codes, read under the verification's lock."""
    matched = check(v)          # always computed, found or not: the same work either way
    step = verify_step(v, now, matched, lock_after, lambda: failures)
    if step == "not_found":
        return VerifyOutcome("not_found")
    if step == "locked":
        return VerifyOutcome("max_attempts_reached", 0, v.id)
    if step == "expire":
        await conn.execute("UPDATE otp_verifications SET status = 'expired' WHERE id = %s", (v.id,))
        return VerifyOutcome("expired", None, v.id)
    if step == "approve":
        # Single use: the row goes at once; a verify waiting on its lock finds it gone.
        async with conn.pipeline():     # both statements in one round trip; rowcount is known once it syncs
            consumed = await conn.execute("DELETE FROM otp_verifications WHERE id = %s AND status = 'pending'",
                                          (v.id,))
            await conn.execute("DELETE FROM otp_failures WHERE app = %s AND destination = %s",
                               (v.app, v.destination))
        if consumed.rowcount != 1:      # cannot happen under the row lock; never approve what was not consumed
            return VerifyOutcome("not_found")
        return VerifyOutcome("approved", None, v.id)
    return await _wrong_code(conn, v, now)


async def _wrong_code(conn: psycopg.AsyncConnection, v: Verification, now: float) -> VerifyOutcome:
    async with conn.pipeline():         # the count and the run of failures in one round trip
        counted = await conn.execute(
            "UPDATE otp_verifications SET attempts = attempts + 1, status = CASE WHEN attempts + 1 >= max_attempts "
            "THEN 'max_attempts_reached' ELSE 'pending' END WHERE id = %s RETURNING attempts, max_attempts, status",
            (v.id,))
        # Consecutive failures per app and number survive resends and restarts (NIST SP 800-63B 5.2.2); a run
        # that stopped LOCK_DECAY ago starts again from one.
        await conn.execute("INSERT INTO otp_failures (app, destination, consecutive, last_at) VALUES (%s, %s, 1, %s) "
                           "ON CONFLICT (app, destination) DO UPDATE SET last_at = excluded.last_at, consecutive = "
                           "CASE WHEN otp_failures.last_at < %s THEN 1 ELSE otp_failures.consecutive + 1 END",
                           (v.app, v.destination, now, now - LOCK_DECAY))
    attempts, max_attempts, status = await counted.fetchone()
    return VerifyOutcome(status, max_attempts - attempts, v.id)


async def _unlock(conn: psycopg.AsyncConnection, destination: str, app: str | None) -> int:
    mine, args = ("", ()) if app is None else (" AND app = %s", (app,))
    cursor = await conn.execute(f"DELETE FROM otp_failures WHERE destination = %s{mine}", (destination, *args))
    return cursor.rowcount


async def _prune(conn: psycopg.AsyncConnection, now: float, keep: float) -> None:
    await prune_limits(conn, now - keep)
    await conn.execute("DELETE FROM otp_verifications WHERE expires_at < %s", (now - keep,))
    await conn.execute("DELETE FROM otp_failures WHERE last_at < %s", (now - LOCK_DECAY,))   # decayed: nothing kept
