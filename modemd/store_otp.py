"""SQL for one-time passcodes and rate limits (the message queue's SQL is in store.py; both share one database).

An OTP row holds only HMAC-SHA256(server secret, verification id || code); the code itself is never stored.
Issuing writes the verification, its queued SMS and the rate-limit hits in one transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Callable

from .sms import OutboundSms
from .store import Store, _insert

MIGRATION = """
    CREATE TABLE otp_verifications (
        id TEXT PRIMARY KEY,
        destination TEXT NOT NULL,
        code_hmac BLOB NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        status TEXT NOT NULL,
        message_id TEXT NOT NULL
    );
    CREATE INDEX otp_by_destination ON otp_verifications(destination, created_at);
    CREATE TABLE rate_events (
        bucket TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX rate_events_bucket ON rate_events(bucket, at);
    CREATE TABLE otp_failures (
        destination TEXT PRIMARY KEY,
        consecutive INTEGER NOT NULL
    )
"""


@dataclass(frozen=True)
class Limit:
    bucket: str
    limit: int
    window: float           # seconds

    def retry_after(self, conn: sqlite3.Connection, now: float) -> float:
        """0 if one more hit fits in the sliding window, else seconds until the oldest counted hit leaves it."""
        # The limit-th newest hit in the window, found by SQLite in the index (no rows copied into Python).
        row = conn.execute("SELECT at FROM rate_events WHERE bucket = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                           (self.bucket, now - self.window, self.limit - 1)).fetchone()
        if row is None:
            return 0.0
        return row["at"] + self.window - now


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


class RateLimited(Exception):
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

    async def issue(self, verification: Verification, sms: OutboundSms, limits: list[Limit]) -> None:
        """Check the limits, supersede the number's pending code, write the verification and its SMS: atomically.
        Raises RateLimited (and writes nothing) when a limit is reached."""
        await self.db.write(lambda conn: _issue(conn, verification, sms, limits))

    async def hit(self, limits: list[Limit], now: float) -> None:
        """Count one event against each limit, or raise RateLimited without counting any."""
        await self.db.write(lambda conn: _hit_all(conn, limits, now))

    async def verify(self, destination: str | None, verification_id: str | None, now: float,
                     check: Callable[[Verification | None], bool], lock_after: int) -> VerifyOutcome:
        """Find the pending code, apply expiry and attempt caps, compare with `check`, consume on success."""
        return await self.db.write(lambda conn: _verify(conn, destination, verification_id, now, check,
                                                        lock_after))

    async def prune(self, now: float, keep: float) -> None:
        await self.db.write(lambda conn: _prune(conn, now, keep))


def _issue(conn: sqlite3.Connection, v: Verification, sms: OutboundSms, limits: list[Limit]) -> None:
    _hit_all(conn, limits, v.created_at)
    # A new send supersedes the pending code; its SMS, if not sent yet, is not worth sending any more.
    old = conn.execute("UPDATE otp_verifications SET status = 'superseded' WHERE destination = ? AND "
                       "status = 'pending' RETURNING message_id", (v.destination,)).fetchall()
    for row in old:
        conn.execute("UPDATE messages SET state = 'canceled', body = NULL, updated_at = ?, error_text = "
                     "'superseded by a newer code' WHERE id = ? AND state = 'queued'", (v.created_at,
                                                                                       row["message_id"]))
    conn.execute("INSERT INTO otp_verifications (id, destination, code_hmac, created_at, expires_at, attempts, "
                 "max_attempts, status, message_id) VALUES (?, ?, ?, ?, ?, 0, ?, 'pending', ?)",
                 (v.id, v.destination, v.code_hmac, v.created_at, v.expires_at, v.max_attempts, v.message_id))
    _insert(conn, sms)


def _hit_all(conn: sqlite3.Connection, limits: list[Limit], now: float) -> None:
    for limit in limits:
        wait = limit.retry_after(conn, now)
        if wait > 0:
            raise RateLimited(limit.bucket, wait)
    conn.executemany("INSERT INTO rate_events (bucket, at) VALUES (?, ?)", [(l.bucket, now) for l in limits])


def _find(conn: sqlite3.Connection, destination: str | None, verification_id: str | None) -> Verification | None:
    if verification_id:
        row = conn.execute("SELECT * FROM otp_verifications WHERE id = ?", (verification_id,)).fetchone()
    else:
        row = conn.execute("SELECT * FROM otp_verifications WHERE destination = ? ORDER BY created_at DESC "
                           "LIMIT 1", (destination,)).fetchone()
    return Verification(**dict(row)) if row else None


def _verify(conn: sqlite3.Connection, destination: str | None, verification_id: str | None, now: float,
            check: Callable[[Verification | None], bool], lock_after: int) -> VerifyOutcome:
    v = _find(conn, destination, verification_id)
    matched = check(v)          # always computed, found or not: the same work either way
    if v is None or v.status not in ("pending", "max_attempts_reached"):
        return VerifyOutcome("not_found")
    if v.status == "max_attempts_reached" or v.attempts >= v.max_attempts:
        return VerifyOutcome("max_attempts_reached", 0, v.id)
    if now >= v.expires_at:
        conn.execute("UPDATE otp_verifications SET status = 'expired' WHERE id = ?", (v.id,))
        return VerifyOutcome("expired", None, v.id)
    if _failures(conn, v.destination) >= lock_after:
        return VerifyOutcome("max_attempts_reached", 0, v.id)
    if matched:
        # Single use: the row goes at once, so a second verify of the same code finds nothing.
        conn.execute("DELETE FROM otp_verifications WHERE id = ? AND status = 'pending'", (v.id,))
        conn.execute("DELETE FROM otp_failures WHERE destination = ?", (v.destination,))
        return VerifyOutcome("approved", None, v.id)
    return _wrong_code(conn, v)


def _wrong_code(conn: sqlite3.Connection, v: Verification) -> VerifyOutcome:
    attempts = v.attempts + 1
    status = "max_attempts_reached" if attempts >= v.max_attempts else "pending"
    conn.execute("UPDATE otp_verifications SET attempts = ?, status = ? WHERE id = ?", (attempts, status, v.id))
    # Consecutive failures per number survive resends and restarts (NIST SP 800-63B 5.2.2).
    conn.execute("INSERT INTO otp_failures (destination, consecutive) VALUES (?, 1) ON CONFLICT(destination) "
                 "DO UPDATE SET consecutive = consecutive + 1", (v.destination,))
    return VerifyOutcome(status, v.max_attempts - attempts, v.id)


def _failures(conn: sqlite3.Connection, destination: str) -> int:
    row = conn.execute("SELECT consecutive FROM otp_failures WHERE destination = ?", (destination,)).fetchone()
    return row["consecutive"] if row else 0


def _prune(conn: sqlite3.Connection, now: float, keep: float) -> None:
    conn.execute("DELETE FROM rate_events WHERE at < ?", (now - keep,))
    conn.execute("DELETE FROM otp_verifications WHERE expires_at < ?", (now - keep,))
