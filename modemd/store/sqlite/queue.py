"""The outbound queue in SQLite: enqueue (idempotency, bound, rate limits), claim, the lifecycle moves; its reads
are QueueReads (queue_reads.py).

Every state change goes through transitions.move() (compare-and-set, checked against the transition table, with
its message_events row). Callers act on a change (webhooks, metrics) only after the write that made it committed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Callable, Collection, Sequence

from ..errors import IdempotencyMismatch, QueueFull
from ..records import (IDEMPOTENCY_WINDOW, MESSAGE_COLUMNS, Enqueued, EnqueuedBatch, Limit, limits_per_message,
                       outbound_from_row, outbound_values)
from .database import Database
from .limits import index_of
from .queue_reads import QueueReads, batch_rows
from .schema import MIGRATIONS
from .transitions import move, write_event
from ...domain.routing import modem_keys
from ...domain.sms import OutboundSms, Priority, State, can_move

_COLUMNS = MESSAGE_COLUMNS
_INSERT = f"INSERT INTO messages ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMNS.split(',')))})"


class Store(QueueReads):
    """store.Store on SQLite; also the file the other record kinds (OtpStore, InboxStore, WebhookStore) share."""

    def __init__(self, path: Path):
        self.path = path
        self.db = Database(path)

    async def open(self) -> None:
        await self.db.open(MIGRATIONS)

    async def close(self) -> None:
        await self.db.close()

    # ---- writes ------------------------------------------------------------------------------------------------
    async def enqueue(self, sms: OutboundSms, *, bound: int | None = None, limits: list[Limit] = ()) -> Enqueued:
        """Durable when this returns (group commit with concurrent enqueues). `bound`: refuse (QueueFull) when this
        many messages are queued already; `limits`: count a hit on each or refuse (RateLimited), all in the
        transaction that inserts. A replay of an accepted Idempotency-Key counts against nothing."""
        queued = await self.enqueue_batch([sms], bound=bound, limits=[limits])
        return Enqueued(queued.messages[0], queued.created)

    async def enqueue_batch(self, batch: Sequence[OutboundSms], *, bound: int | None = None,
                            limits: Sequence[Sequence[Limit]] = ()) -> EnqueuedBatch:
        """Every message of `batch` or none, in one request of the group commit (store.Store.enqueue_batch). The
        limits of all its messages are counted in one RateIndex.hit_all, which counts a bucket named once per
        message as that many hits, one after another."""
        index = index_of(self.db)
        hits = [limit for each in limits_per_message(batch, limits) for limit in each]
        return await self.db.write(lambda conn: insert_batch(
            conn, batch, bound, counted=lambda: index.hit_all(conn, hits, batch[0].created_at)))

    async def claim_next(self, modem: str, now: float | None = None, *,
                         routes: Collection[str] | None = None) -> OutboundSms | None:
        """queued -> sending for the most urgent due message `modem` may send (its route is None or one of
        `routes`; None: the modem's own key only); the attempt is counted now, before the modem works."""
        now = time.time() if now is None else now
        keys = sorted(modem_keys(modem) if routes is None else routes)
        return await self.db.write(lambda conn: _claim(conn, modem, now, keys))

    async def mark_sent(self, message_id: str, references: list[int], *, purge_text: bool) -> bool:
        now = time.time()
        sets = {"sent_at": now, "refs": json.dumps(references), "error_code": None, "error_text": None}
        if purge_text:
            sets["body"] = None
        return await self.transition(message_id, (State.SENDING,), State.SENT, "sent", now=now, **sets)

    async def mark_retry(self, message_id: str, next_attempt_at: float, reason: str, *,
                         error_code: str | None = None, refund_attempt: bool = False,
                         possibly_sent: bool = False) -> bool:
        """sending -> queued. refund_attempt: the modem was unavailable, the message itself never got a try.
        possibly_sent: the last try may have reached the network; the resend is flagged as a possible duplicate."""
        sets = {"next_attempt_at": next_attempt_at, "error_code": error_code, "error_text": reason}
        return await self.transition(message_id, (State.SENDING,), State.QUEUED, reason,
                                     refund=refund_attempt, ambiguous=possibly_sent, **sets)

    async def mark_failed(self, message_id: str, reason: str, *, error_code: str | None = None,
                          purge_text: bool = False) -> bool:
        sets = {"error_code": error_code, "error_text": reason}
        if purge_text:
            sets["body"] = None
        return await self.transition(message_id, (State.QUEUED, State.SENDING, State.SENT), State.FAILED, reason,
                                     **sets)

    async def retry(self, message_id: str) -> bool:
        """failed -> queued with fresh attempts, by an admin. OTP messages are not retried (their text is gone and
        their code is superseded by a new send); a retried message may reach the handset twice if it went out."""
        def work(conn):
            row = conn.execute("SELECT kind, body FROM messages WHERE id = ? AND state = 'failed'",
                               (message_id,)).fetchone()
            if row is None or row["kind"] != "sms" or row["body"] is None:
                return False
            now = time.time()
            return _transition(conn, message_id, (State.FAILED,), State.QUEUED, "retried by an admin", now, (),
                               {"attempts": 0, "ambiguous": 0, "next_attempt_at": now, "error_code": None,
                                "error_text": None})
        return await self.db.write(work)

    async def cancel(self, message_id: str) -> bool:
        return await self.transition(message_id, (State.QUEUED,), State.CANCELED, "canceled by client", body=None)

    async def transition(self, message_id: str, sources: tuple[State, ...], target: State, reason: str, *,
                         now: float | None = None, refund: bool = False, ambiguous: bool = False,
                         **sets) -> bool:
        bad = [s for s in sources if not can_move(s, target)]
        if bad:
            raise ValueError(f"{bad[0].value} -> {target.value} is not a lifecycle transition")
        now = time.time() if now is None else now
        adjust = (("refund_attempt",) if refund else ()) + (("possibly_sent",) if ambiguous else ())
        return await self.db.write(lambda conn: _transition(conn, message_id, sources, target, reason, now,
                                                            adjust, sets))

    async def purge_texts(self, finished_before: float) -> int:
        """Erase the text of messages that finished before `finished_before` (retention); the records stay."""
        def work(conn):
            return conn.execute("UPDATE messages SET body = NULL WHERE body IS NOT NULL AND state IN ('sent', "
                                "'delivered', 'failed', 'expired', 'canceled') AND updated_at < ?",
                                (finished_before,)).rowcount
        return await self.db.write_bulk(work)

    async def expire_due(self, now: float | None = None) -> list[str]:
        """Queued messages whose deadline passed end as expired (an OTP is never sent after its code expired)."""
        now = time.time() if now is None else now
        return await self.db.write_bulk(lambda conn: _expire(conn, now))

    async def recover_interrupted(self, max_attempts: int, max_ambiguous: int) -> list[str]:
        """After a crash: messages left in `sending` may or may not have gone out. See services/outbox/outbox.py
        for the policy."""
        return await self.db.write_bulk(lambda conn: _recover(conn, time.time(), max_attempts, max_ambiguous))

    async def recover_abandoned(self, max_attempts: int, max_ambiguous: int) -> list[str]:
        """None ever: one daemon per file (the state directory's lock), so no other host's send can be left here
        while this one runs; its own are recovered at start-up."""
        return []

    async def next_due_at(self, routes: Collection[str] | None = None) -> float | None:
        """When the next queued message is due; with `routes`, the next one a modem serving them may send."""
        where, keys = ("", ()) if routes is None else (f" AND {_routable(len(routes))}", tuple(sorted(routes)))

        def work(conn):
            # One index probe per priority (min() over the whole partial index scans it: 16 ms at 100k queued).
            dues = [conn.execute("SELECT next_attempt_at FROM messages INDEXED BY messages_due WHERE state = 'queued' "
                                 f"AND priority = ?{where} ORDER BY next_attempt_at LIMIT 1", (int(p), *keys)
                                 ).fetchone()
                    for p in Priority]
            times = [row[0] for row in dues if row is not None]
            return min(times) if times else None
        return await self.db.read(work)


# ---- SQL, run inside the group-commit transaction (Database.write: on the event loop; write_bulk: writer thread)
def insert_message(conn: sqlite3.Connection, sms: OutboundSms, bound: int | None = None,
                   counted: Callable[[], None] | None = None) -> Enqueued:
    """insert_batch of one message."""
    queued = insert_batch(conn, [sms], bound, counted)
    return Enqueued(queued.messages[0], queued.created)


def insert_batch(conn: sqlite3.Connection, batch: Sequence[OutboundSms], bound: int | None = None,
                 counted: Callable[[], None] | None = None) -> EnqueuedBatch:
    """`counted` runs once the request is known to be new (not a replay of its Idempotency-Key, which batch[0]
    carries): its rate limits. `bound` must have room for every message of the batch."""
    first = batch[0]
    if first.idempotency_key:
        existing = _by_idempotency_key(conn, first.idempotency_key, first.created_at)
        if existing and existing.request_digest != first.request_digest:
            raise IdempotencyMismatch(existing)
        if existing:                                      # a replay of an accepted request is never refused
            return EnqueuedBatch(_batch_of(conn, existing), created=False)
    if counted is not None:
        counted()
    if bound is not None and queued_count(conn) + len(batch) > bound:
        raise QueueFull(f"{bound} messages may wait; {len(batch)} more do not fit")
    conn.executemany(_INSERT, [outbound_values(sms) for sms in batch])
    for sms in batch:
        write_event(conn, sms.id, sms.created_at, None, sms.state, "accepted")
    return EnqueuedBatch(list(batch), created=True)


def _batch_of(conn: sqlite3.Connection, first: OutboundSms) -> list[OutboundSms]:
    """The messages the request that queued `first` queued: its batch, or `first` alone."""
    return [first] if first.batch_id is None else batch_rows(conn, first.batch_id)


def queued_count(conn: sqlite3.Connection) -> int:
    """Messages waiting to be sent, from the counters (schema MESSAGE_COUNTS): one small read, not a scan."""
    return conn.execute("SELECT coalesce(sum(n), 0) FROM message_counts WHERE state = 'queued'").fetchone()[0]


def _by_idempotency_key(conn: sqlite3.Connection, key: str, now: float) -> OutboundSms | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE idempotency_key = ?", (key,)).fetchone()
    if row is None:
        return None
    if row["created_at"] >= now - IDEMPOTENCY_WINDOW:
        return outbound_from_row(row)
    # The old key is past its window: release it so the new request is a new message.
    conn.execute("UPDATE messages SET idempotency_key = NULL WHERE id = ?", (row["id"],))
    return None


def _routable(keys: int) -> str:
    """The condition a message's route meets when one of `keys` (bound after it) may send it."""
    return f"(route IS NULL OR route IN ({', '.join('?' * keys)}))" if keys else "route IS NULL"


def _claim(conn: sqlite3.Connection, modem: str, now: float, keys: Sequence[str]) -> OutboundSms | None:
    due = conn.execute(
        # INDEXED BY: with a big backlog the planner otherwise picks messages_state and sorts every queued row
        # (24 ms per claim at 100k queued, measured by bench/bench_startup.py; 0.005 ms with the due index).
        # Messages routed elsewhere are stepped over in the index's order, so the order stays priority, due, seq.
        "SELECT id FROM messages INDEXED BY messages_due WHERE state = 'queued' AND next_attempt_at <= ? "
        f"AND (deadline IS NULL OR deadline > ?) AND {_routable(len(keys))} "
        "ORDER BY priority, next_attempt_at, seq LIMIT 1",
        (now, now, *keys)).fetchone()
    if due is None:
        return None
    row = move(conn, due["id"], State.QUEUED, State.SENDING, f"claimed by {modem}", now, sets={"modem": modem},
               adjust=("count_attempt",), returning=_COLUMNS)
    return outbound_from_row(row)


def _transition(conn: sqlite3.Connection, message_id: str, sources: tuple[State, ...], target: State, reason: str,
                now: float, adjust: tuple[str, ...], sets: dict) -> bool:
    """target from whichever of `sources` the message is in. One source (the common case: sending -> sent) needs
    no look first: the compare-and-set itself says whether the message was there."""
    if len(sources) == 1:
        source = sources[0]
    else:
        row = conn.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None or State(row["state"]) not in sources:
            return False
        source = State(row["state"])
    return move(conn, message_id, source, target, reason, now, sets=sets, adjust=adjust) is not None


def _expire(conn: sqlite3.Connection, now: float) -> list[str]:
    due = conn.execute("SELECT id FROM messages INDEXED BY messages_deadline WHERE state = 'queued' AND deadline "
                       "IS NOT NULL AND deadline <= ?", (now,)).fetchall()
    sets = {"body": None, "error_text": "deadline passed before it could be sent"}
    return [row["id"] for row in due
            if move(conn, row["id"], State.QUEUED, State.EXPIRED, "deadline passed", now, sets=sets)]


def _recover(conn: sqlite3.Connection, now: float, max_attempts: int, max_ambiguous: int) -> list[str]:
    rows = conn.execute("SELECT id, attempts, ambiguous FROM messages WHERE state = 'sending'").fetchall()
    for row in rows:
        if row["attempts"] >= max_attempts or row["ambiguous"] >= max_ambiguous:
            # An OTP's text (its code) goes with the message, as after any send: nothing will send it again.
            move(conn, row["id"], State.SENDING, State.FAILED, "interrupted while sending, no resend left", now,
                 sets={"error_code": "interrupted",
                       "error_text": "interrupted while sending; may have been sent, not resending again"},
                 adjust=("forget_otp_text",))
        else:
            move(conn, row["id"], State.SENDING, State.QUEUED, "interrupted while sending; may be a duplicate", now,
                 sets={"next_attempt_at": now}, adjust=("possibly_sent",))
    return [row["id"] for row in rows]
