"""SQL for one-time passcodes (the message queue's SQL is in queue.py; both share one database).

An OTP row holds HMAC-SHA256(server secret, verification id || code), which a verify compares, and the code sealed
(domain/otp_seal.py: AES-GCM under a key that is not in the database) so that a resend within its validity sends
the same code (services/otp.py); the plain code is never stored. Issuing writes the verification, its queued SMS and
the rate-limit hits in one transaction; so does a resend, with its SMS.

The rate limits themselves (the in-memory index of rate_events) are in limits.py, shared with the plain-SMS send
path in queue.py.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from ...domain.sms import OutboundSms, State
from ..records import LOCK_DECAY, RESENT, Limit, PendingCode, Verification, VerifyOutcome, verify_step
from ..errors import QueueFull
from .queue import Store, insert_message, queued_count
from .transitions import move
from .limits import RateIndex, index_of

SUPERSEDED = "superseded by a newer code"
CANCELED = "its verification was canceled"
# A code that can still be looked up, checked or canceled: pending, or out of checks (a check then says so), and not
# expired. An approved code is deleted at once; expired, superseded and canceled ones wait for prune.
LIVE = "status IN ('pending', 'max_attempts_reached') AND expires_at > ?"


class OtpStore:
    """store.OtpStore on SQLite, in the file of `store`."""

    def __init__(self, store: Store):
        self.db = store.db
        self._index = index_of(self.db)

    async def issue(self, verification: Verification, sms: OutboundSms, limits: list[Limit],
                    bound: int | None = None, *, resend_until: float | None = None) -> PendingCode | None:
        """Check the limits, supersede the number's pending code, write the verification and its SMS: atomically.
        Raises RateLimited (and writes nothing) when a limit is reached. With `resend_until`: the app's pending
        code for the number, if one is valid after that time, and nothing written (store.OtpStore.issue)."""
        return await self.db.write(lambda conn: _issue(conn, self._index, verification, sms, limits, bound,
                                                       resend_until))

    async def resend(self, verification_id: str, sms: OutboundSms, limits: list[Limit], bound: int | None = None,
                     *, now: float, valid_after: float, app: str) -> int | None:
        """The pending code sent again in `sms` (store.OtpStore.resend): its sends, or None if no longer pending."""
        return await self.db.write(lambda conn: _resend(conn, self._index, verification_id, sms, limits, bound, now,
                                                        valid_after, app))

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

    async def lookup(self, app: str, now: float, *, verification_id: str | None = None,
                     destination: str | None = None) -> Verification | None:
        """The app's live code (LIVE: pending or out of checks, not expired) by id, or the number's latest live one;
        None for any other, or another app's."""
        return await self.db.read(lambda conn: _lookup(conn, app, now, verification_id, destination))

    async def cancel(self, verification_id: str, app: str, now: float) -> Verification | None:
        """The app's live code -> canceled, and its SMS with it if still queued (through the one gate): one
        transaction. The canceled verification, or None if there was no live code of the app by that id."""
        return await self.db.write(lambda conn: _cancel(conn, verification_id, app, now))

    async def prune(self, now: float, keep: float) -> None:
        def work(conn):
            _prune(conn, now, keep)
            self._index.invalidate()
            self._index.sync(conn, now)       # reloaded here, on the writer thread, not by the next send
        await self.db.write_bulk(work)


def _issue(conn: sqlite3.Connection, index: RateIndex, v: Verification, sms: OutboundSms,
           limits: list[Limit], bound: int | None = None, resend_until: float | None = None) -> PendingCode | None:
    if resend_until is not None:
        row = conn.execute("SELECT id, code_sealed, created_at, expires_at, sends FROM otp_verifications WHERE "
                           "app = ? AND destination = ? AND status = 'pending' AND expires_at > ? AND code_sealed "
                           "IS NOT NULL ORDER BY created_at DESC LIMIT 1",
                           (v.app, v.destination, resend_until)).fetchone()
        if row is not None:
            return PendingCode(**dict(row))
    index.hit_all(conn, limits, v.created_at)
    # A new send supersedes the pending code; its SMS, if not sent yet, is not worth sending any more.
    # Only the same app's: two apps sending codes to one person (a shop and a bank) keep their own codes.
    old = conn.execute("UPDATE otp_verifications SET status = 'superseded' WHERE app = ? AND destination = ? AND "
                       "status = 'pending' RETURNING message_id", (v.app, v.destination)).fetchall()
    for row in old:           # a code already on its way (sending, sent) stays as it is: compare-and-set
        move(conn, row["message_id"], State.QUEUED, State.CANCELED, SUPERSEDED, v.created_at,
             sets={"body": None, "error_text": SUPERSEDED})
    conn.execute("INSERT INTO otp_verifications (id, destination, code_hmac, created_at, expires_at, attempts, "
                 "max_attempts, status, message_id, app, sends, code_sealed) "
                 "VALUES (?, ?, ?, ?, ?, 0, ?, 'pending', ?, ?, 1, ?)",
                 (v.id, v.destination, v.code_hmac, v.created_at, v.expires_at, v.max_attempts, v.message_id,
                  v.app, v.code_sealed))
    insert_message(conn, sms, bound)
    return None


def _resend(conn: sqlite3.Connection, index: RateIndex, verification_id: str, sms: OutboundSms, limits: list[Limit],
            bound: int | None, now: float, valid_after: float, app: str) -> int | None:
    row = conn.execute("SELECT message_id FROM otp_verifications WHERE id = ? AND app = ? AND status = 'pending' "
                       "AND expires_at > ?", (verification_id, app, valid_after)).fetchone()
    if row is None:
        return None
    # The bound counts a resend as any new SMS, before its earlier one gives way (as PostgreSQL's modemd_resend).
    if bound is not None and queued_count(conn) >= bound:
        raise QueueFull(f"{bound} messages are waiting already")
    index.hit_all(conn, limits, now)
    # One SMS of a code in the queue: the last one, if it has not left yet, gives way to this one.
    move(conn, row["message_id"], State.QUEUED, State.CANCELED, RESENT, now, sets={"body": None, "error_text": RESENT})
    insert_message(conn, sms)
    return conn.execute("UPDATE otp_verifications SET sends = sends + 1, message_id = ? WHERE id = ? "
                        "RETURNING sends", (sms.id, verification_id)).fetchone()["sends"]


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
    step = verify_step(v, now, matched, lock_after, lambda: _failures(conn, v, now))
    if step == "not_found":
        return VerifyOutcome("not_found")
    if step == "locked":
        return VerifyOutcome("max_attempts_reached", 0, v.id)
    if step == "expire":
        conn.execute("UPDATE otp_verifications SET status = 'expired' WHERE id = ?", (v.id,))
        return VerifyOutcome("expired", None, v.id)
    if step == "approve":
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


def _lookup(conn: sqlite3.Connection, app: str, now: float, verification_id: str | None,
            destination: str | None) -> Verification | None:
    which, key = ("id = ?", verification_id) if verification_id else ("destination = ?", destination)
    row = conn.execute(f"SELECT * FROM otp_verifications WHERE {which} AND app = ? AND {LIVE} "
                       "ORDER BY created_at DESC LIMIT 1", (key, app, now)).fetchone()
    return Verification(**dict(row)) if row else None


def _cancel(conn: sqlite3.Connection, verification_id: str, app: str, now: float) -> Verification | None:
    row = conn.execute(f"UPDATE otp_verifications SET status = 'canceled' WHERE id = ? AND app = ? AND {LIVE} "
                       "RETURNING *", (verification_id, app, now)).fetchone()
    if row is None:
        return None
    # A code nobody will check is not worth sending; one already on its way (sending, sent) stays: compare-and-set.
    move(conn, row["message_id"], State.QUEUED, State.CANCELED, CANCELED, now,
         sets={"body": None, "error_text": CANCELED})
    return Verification(**dict(row))


def _prune(conn: sqlite3.Connection, now: float, keep: float) -> None:
    conn.execute("DELETE FROM rate_events WHERE at < ?", (now - keep,))
    conn.execute("DELETE FROM otp_verifications WHERE expires_at < ?", (now - keep,))
    conn.execute("DELETE FROM otp_failures WHERE last_at < ?", (now - LOCK_DECAY,))   # decayed: nothing to keep
