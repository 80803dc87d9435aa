"""One-time passcodes on PostgreSQL (store.OtpStore), shared by every host on the database: a code issued through
one host is checked through any other. Same behaviour as the SQLite store (store/sqlite/otp.py): a row holds only
HMAC-SHA256(server secret, verification id || code) and the code sealed for resends; issuing counts the limits, supersedes the app's pending code
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
- The same code on resend. The issue lock is taken before the pending code is looked for, so two sends at once
  both resend it (two SMS of one code) or one supersedes, never two codes pending. A resend locks the verification's
  row and counts the send only if it is still pending (modemd_resend).
Lock order: an issue takes the issue lock, then its rate-limit buckets, then the rows it supersedes; a resend its
row, then its buckets; a verify its row, then its buckets (they depend on the row). The two never wait on each other's: a verify counts only verify
buckets (services/otp.py: otp-verify:...), an issue only send buckets. Were two bucket names to share a hash,
PostgreSQL's deadlock detector would end one of the transactions (StorageError, a 503 to retry), never a hang.

The rate limits are limits.py's: rate_events is the truth for every host, with no in-memory index (the SQLite
store's index would be wrong here, another host writes the same table); prune deletes old hits, nothing to reload.
"""

from __future__ import annotations

from typing import Awaitable, Callable

import psycopg

from ...domain.sms import OutboundSms, State
from ..errors import QueueFull, RateLimited
from ..records import LOCK_DECAY, RESENT, Limit, PendingCode, Verification, VerifyOutcome, verify_step
from .leases import split
from .limits import hit_all, limit_arrays, prune as prune_limits
from .enqueue import Table, inserted, message_rows
from .queue import Store
from .steps import Interfered, Merged, Result, Statement, Step, Steps
from .transitions import move, move_statement

SUPERSEDED = "superseded by a newer code"
CANCELED = "its verification was canceled"
# A code that can still be looked up, checked or canceled (store/sqlite/otp.py's LIVE, in PostgreSQL's words).
LIVE = "status IN ('pending', 'max_attempts_reached') AND expires_at > %s"
# pg_advisory_xact_lock(int4, int4) while issuing (in modemd_issue, schema version 6, as 28532): the first key names
# the use (ASCII "ot", apart from limits.py's "rl"), the second is the hash of app and number (a collision only makes
# two numbers take turns).
ISSUE_LOCK_CLASS = 0x6F74
_COLUMNS = ("id, destination, code_hmac, created_at, expires_at, attempts, max_attempts, status, message_id, app, "
            "sends, code_sealed")
_FIELDS = [name.strip() for name in _COLUMNS.split(",")]


class OtpStore:
    """store.OtpStore on PostgreSQL, in the database of `store` (postgres.queue.Store)."""

    def __init__(self, store: Store):
        self.db = store.db
        self.leases = store.leases

    async def issue(self, verification: Verification, sms: OutboundSms, limits: list[Limit],
                    bound: int | None = None, *, resend_until: float | None = None) -> PendingCode | None:
        """Check the limits, supersede the number's pending code, write the verification and its SMS: atomically.
        Raises RateLimited (and writes nothing) when a limit is reached. With `resend_until`: the app's pending
        code for the number, if one is valid after that time, and nothing written (store.OtpStore.issue)."""
        # The large buckets (the app's token, the country) from this host's leases (leases.py), the number's own in
        # the transaction. Two sends to one number in one batch: the second must see the first's code to supersede
        # or resend it, so they do not run together (Database.batched's key).
        leased, counted = split(limits)
        return await self._leased(leased, verification.created_at, lambda: self.db.batched(
            steps=lambda: _issue(verification, sms, counted, bound, resend_until),
            key=_number_key(verification.app, verification.destination)), accepted=lambda pending: pending is None)

    async def resend(self, verification_id: str, sms: OutboundSms, limits: list[Limit], bound: int | None = None,
                     *, now: float, valid_after: float, app: str) -> int | None:
        """The pending code sent again in `sms` (store.OtpStore.resend): its sends, or None if no longer pending."""
        leased, counted = split(limits)
        return await self._leased(leased, now, lambda: self.db.batched(
            steps=lambda: _resend(verification_id, sms, counted, bound, now, valid_after, app),
            key=_number_key(app, sms.to)), accepted=lambda sends: sends is not None)

    async def _leased(self, leased: list[Limit], now: float, request: Callable[[], Awaitable],
                      accepted: Callable[[object], bool]):
        """`await request()` with a hit of each leased limit taken first (RateLimited: not run). The hits are given
        back when it raises or its outcome says nothing was sent (an issue that found a code to resend, a resend
        whose code is gone)."""
        taken = await self.leases.take(leased, now)
        try:
            outcome = await request()
        except Exception:
            self.leases.give_back(taken)
            raise
        if not accepted(outcome):
            self.leases.give_back(taken)
        return outcome

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
        return await self.db.batched(steps=lambda: _verify(destination, verification_id, now, check, lock_after,
                                                           limits, app))

    async def unlock(self, destination: str, app: str | None = None) -> int:
        """An admin lifts the wrong-code lock of a number (one app's, or every app's with None). Returns how many
        locks (counts of consecutive failures) were removed."""
        return await self.db.write(lambda conn: _unlock(conn, destination, app))

    async def lookup(self, app: str, now: float, *, verification_id: str | None = None,
                     destination: str | None = None) -> Verification | None:
        """The app's live code (LIVE: pending or out of checks, not expired) by id, or the number's latest live one;
        None for any other, or another app's. One statement: consistent by itself, no transaction."""
        return await self.db.read(lambda conn: _lookup(conn, app, now, verification_id, destination))

    async def cancel(self, verification_id: str, app: str, now: float) -> Verification | None:
        """The app's live code -> canceled, and its SMS with it if still queued (through the one gate): one
        transaction. The canceled verification, or None if there was no live code of the app by that id. The
        UPDATE takes the row's lock: a verify of the same code on another host waits for it, then finds the code
        canceled (not_found); a cancel waiting on a verify's lock finds it approved (gone) or counted."""
        return await self.db.write(lambda conn: _cancel(conn, verification_id, app, now))

    async def prune(self, now: float, keep: float) -> None:
        await self.db.write(lambda conn: _prune(conn, now, keep))


# ---- requests as steps (steps.py): a batch of them shares its round trips ----------------------------------------
def _number_key(app: str, destination: str) -> tuple:
    return ("otp-send", app, destination)


def _issue(v: Verification, sms: OutboundSms, limits: list[Limit], bound: int | None,
           resend_until: float | None) -> Steps:
    # What decides (room in the queue, a pending code to send again, the limits) and what must come first (the issue
    # lock, then the supersede) is one statement, modemd_issue (schema version 6), which writes nothing unless it
    # accepts; the writes follow in a second step. Round trips, then psycopg's work per statement, were most of a
    # send's time (bench/bench_fleet.py): both steps are Merged, one statement for a whole batch's sends.
    (decided,) = yield Step([Merged(_decide_all, (limits, float(v.created_at), v.app, v.destination, bound,
                                                  resend_until))], refusable=True)
    queue_full, refused, retry_after, superseded, *pending = decided.rows[0]
    _raise_if_refused(queue_full, refused, retry_after, bound)
    if pending[0] is not None:
        return PendingCode(*pending)
    # A new send supersedes the pending code; its SMS, if not sent yet, is not worth sending any more (a code
    # already on its way, sending or sent, stays as it is: compare-and-set). Only the same app's: two apps sending
    # codes to one person (a shop and a bank) keep their own codes.
    cancels = [move_statement(message_id, State.QUEUED, State.CANCELED, SUPERSEDED, v.created_at,
                              sets={"body": None, "error_text": SUPERSEDED}) for message_id in superseded]
    yield Step([*cancels, Merged(inserted, (
        (_VERIFICATIONS, (v.id, v.destination, v.code_hmac, v.created_at, v.expires_at, 0, v.max_attempts,
                               "pending", v.message_id, v.app, 1, v.code_sealed)),
        *message_rows(sms)))], final=True)
    return None


_VERIFICATIONS = Table("otp_verifications", "id, destination, code_hmac, created_at, expires_at, attempts, "
                       "max_attempts, status, message_id, app, sends, code_sealed", (
                           "text", "text", "bytea", "double precision", "double precision", "integer", "integer",
                           "text", "text", "text", "integer", "text"))


def _decide_all(parts: list[tuple]) -> Statement:
    """steps.Merged form of a batch's OTP sends' decisions: modemd_issue_all (schema version 12), each request's
    limits laid end to end in the three arrays."""
    buckets, maxima, windows = [], [], []
    counts, nows, apps, destinations, bounds, resend_untils = [], [], [], [], [], []
    for limits, now, app, destination, bound, resend_until in parts:
        each = limit_arrays(limits)
        buckets += each[0]
        maxima += each[1]
        windows += each[2]
        counts.append(len(limits))
        nows.append(now)
        apps.append(app)
        destinations.append(destination)
        bounds.append(bound)
        resend_untils.append(resend_until)
    return ("SELECT request, queue_full, refused, retry_after, superseded, pending_id, pending_sealed, "
            "pending_created, pending_expires, pending_sends FROM modemd_issue_all(%s::text[], %s::integer[], "
            "%s::double precision[], %s::integer[], %s::double precision[], %s::text[], %s::text[], %s::bigint[], "
            "%s::double precision[])",
            (buckets, maxima, windows, counts, nows, apps, destinations, bounds, resend_untils))


def _resend(verification_id: str, sms: OutboundSms, limits: list[Limit], bound: int | None, now: float,
            valid_after: float, app: str) -> Steps:
    # modemd_resend decides (and counts) in one statement, as modemd_issue does for a new code.
    (decided,) = yield Step([(
        "SELECT queue_full, refused, retry_after, gone, sends, previous FROM modemd_resend(%s, %s, %s, %s, %s, %s, "
        "%s, %s, %s)", (*limit_arrays(limits), float(now), verification_id, app, sms.id, valid_after, bound))],
        refusable=True)
    queue_full, refused, retry_after, gone, sends, previous = decided.rows[0]
    _raise_if_refused(queue_full, refused, retry_after, bound)
    if gone:
        return None
    # One SMS of a code in the queue: the last one, if it has not left yet, gives way to this one.
    yield Step([move_statement(previous, State.QUEUED, State.CANCELED, RESENT, now,
                               sets={"body": None, "error_text": RESENT}),
                Merged(inserted, tuple(message_rows(sms)))], final=True)
    return sends


def _raise_if_refused(queue_full: bool, refused: str | None, retry_after: float | None, bound: int | None) -> None:
    if queue_full:
        raise QueueFull(f"{bound} messages are waiting already")
    if refused is not None:
        raise RateLimited(refused, retry_after)


def _verify(destination: str | None, verification_id: str | None, now: float,
            check: Callable[[Verification | None], bool], lock_after: int,
            limits: Callable[[Verification], list[Limit]], app: str | None) -> Steps:
    (found,) = yield Step([_find(destination, verification_id, app)], reads_only=True)
    v = _verification(found.rows[0]) if found.rows else None
    failures = 0
    if v is not None:
        # The limits (of the code found) and the number's run of failures together; modemd_hit counts nothing
        # when it refuses.
        counted = limits(v) if v.status in ("pending", "max_attempts_reached") else []
        statements = [("SELECT consecutive, last_at FROM otp_failures WHERE app = %s AND destination = %s",
                       (v.app, v.destination))]
        if counted:
            statements.insert(0, ("SELECT refused, retry_after FROM modemd_hit(%s, %s, %s, %s)",
                                  (*limit_arrays(counted), now)))
        answers = yield Step(statements, reads_only=not counted, refusable=True)
        if counted and answers[0].rows:
            raise RateLimited(*answers[0].rows[0])
        run = answers[-1].rows
        if run and run[0][1] >= now - LOCK_DECAY:
            failures = run[0][0]
    matched = check(v)          # always computed, found or not: the same work either way
    step = verify_step(v, now, matched, lock_after, lambda: failures)
    if step == "not_found":
        return VerifyOutcome("not_found")
    if step == "locked":
        return VerifyOutcome("max_attempts_reached", 0, v.id)
    # Every write below is a compare-and-set on the status read in the first step. The row is locked, so only a
    # request of the same batch can have changed it meanwhile (steps.run_together: they read before any of them
    # writes); then the request raises Interfered, and the batch runs its requests one by one.
    if step == "expire":
        expired, = yield Step([("UPDATE otp_verifications SET status = 'expired' WHERE id = %s AND status = %s",
                                (v.id, v.status))])
        _unchanged(expired)
        return VerifyOutcome("expired", None, v.id)
    if step == "approve":
        # Single use: the row goes at once; a verify waiting on its lock finds it gone.
        consumed, _ = yield Step([("DELETE FROM otp_verifications WHERE id = %s AND status = 'pending'", (v.id,)),
                                  ("DELETE FROM otp_failures WHERE app = %s AND destination = %s",
                                   (v.app, v.destination))])
        _unchanged(consumed)            # never approve what was not consumed
        return VerifyOutcome("approved", None, v.id)
    counted, _ = yield Step([
        ("UPDATE otp_verifications SET attempts = attempts + 1, status = CASE WHEN attempts + 1 >= max_attempts "
         "THEN 'max_attempts_reached' ELSE 'pending' END WHERE id = %s AND status = %s "
         "RETURNING attempts, max_attempts, status", (v.id, v.status)),
        # Consecutive failures per app and number survive resends and restarts (NIST SP 800-63B 5.2.2); a run that
        # stopped LOCK_DECAY ago starts again from one.
        ("INSERT INTO otp_failures (app, destination, consecutive, last_at) VALUES (%s, %s, 1, %s) "
         "ON CONFLICT (app, destination) DO UPDATE SET last_at = excluded.last_at, consecutive = "
         "CASE WHEN otp_failures.last_at < %s THEN 1 ELSE otp_failures.consecutive + 1 END",
         (v.app, v.destination, now, now - LOCK_DECAY))])
    _unchanged(counted)
    attempts, max_attempts, status = counted.rows[0]
    return VerifyOutcome(status, max_attempts - attempts, v.id)


def _unchanged(written: Result) -> None:
    if written.rowcount != 1:
        raise Interfered("the verification changed since it was read")


def _find(destination: str | None, verification_id: str | None, app: str | None) -> tuple[str, tuple]:
    """The verification by id, or the number's latest; only the app's own unless app is None (admin). Its row is
    locked until the transaction ends (see the module's docstring for what a concurrent verify then sees)."""
    mine, args = ("", ()) if app is None else (" AND app = %s", (app,))
    if verification_id:
        return f"SELECT {_COLUMNS} FROM otp_verifications WHERE id = %s{mine} FOR UPDATE", (verification_id, *args)
    return (f"SELECT {_COLUMNS} FROM otp_verifications WHERE destination = %s{mine} ORDER BY created_at DESC LIMIT 1 "
            "FOR UPDATE", (destination, *args))


def _verification(row: tuple) -> Verification:
    fields = dict(zip(_FIELDS, row))
    return Verification(**{**fields, "code_hmac": bytes(fields["code_hmac"])})   # bytea: bytes, whatever the loader


# ---- SQL, run inside a transaction of Database.write ------------------------------------------------------------
async def _unlock(conn: psycopg.AsyncConnection, destination: str, app: str | None) -> int:
    mine, args = ("", ()) if app is None else (" AND app = %s", (app,))
    cursor = await conn.execute(f"DELETE FROM otp_failures WHERE destination = %s{mine}", (destination, *args))
    return cursor.rowcount


async def _lookup(conn: psycopg.AsyncConnection, app: str, now: float, verification_id: str | None,
                  destination: str | None) -> Verification | None:
    which, key = ("id = %s", verification_id) if verification_id else ("destination = %s", destination)
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM otp_verifications WHERE {which} AND app = %s AND {LIVE} "
                                "ORDER BY created_at DESC LIMIT 1", (key, app, now))
    row = await cursor.fetchone()
    return _verification(row) if row else None


async def _cancel(conn: psycopg.AsyncConnection, verification_id: str, app: str, now: float) -> Verification | None:
    cursor = await conn.execute(f"UPDATE otp_verifications SET status = 'canceled' WHERE id = %s AND app = %s AND "
                                f"{LIVE} RETURNING {_COLUMNS}", (verification_id, app, now))
    row = await cursor.fetchone()
    if row is None:
        return None
    v = _verification(row)
    # A code nobody will check is not worth sending; one already on its way (sending, sent) stays: compare-and-set.
    await move(conn, v.message_id, State.QUEUED, State.CANCELED, CANCELED, now,
               sets={"body": None, "error_text": CANCELED})
    return v


async def _prune(conn: psycopg.AsyncConnection, now: float, keep: float) -> None:
    await prune_limits(conn, now - keep)
    await conn.execute("DELETE FROM otp_verifications WHERE expires_at < %s", (now - keep,))
    await conn.execute("DELETE FROM otp_failures WHERE last_at < %s", (now - LOCK_DECAY,))   # decayed: nothing kept
