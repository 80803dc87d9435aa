"""The outbound queue on PostgreSQL (store.Store), shared by every host on the database.

What differs from the SQLite queue (store/sqlite/queue.py), and why:
- Claims. Each host's workers take the most urgent due message with FOR UPDATE SKIP LOCKED: two hosts claiming at
  once take two different messages instead of waiting on one. The claim writes this host's name (`node`) and a
  lease (`lease_until`); the host renews the leases of its sends in flight (renew()) while it lives.
- Abandoned sends. A host that dies leaves its messages `sending`; once their lease has run out any host takes them
  back (recover_abandoned) under the rule a crash follows on one box: queued again and flagged a possible
  duplicate, or failed when it has no resend left. An OTP past its deadline is never claimed again.
- Ownership. A host records the end of a send (sent, retry, failed) only for a message it still holds: one whose
  lease ran out and that another host took back is that host's now (transitions.move held_by).
- Start-up recovery takes back only this host's own sends (its previous run's); another host's are its own until
  their lease runs out.
- Wake-ups. Every accepted message NOTIFYs the channel `modemd_queue` in its transaction (delivered at commit);
  each host LISTENs and wakes its workers, so a message accepted on one host goes out on another in milliseconds,
  not at the next poll.
- Idempotency keys are unique in the table; two hosts accepting the same key at once: the second insert fails on the
  index, and the request runs again and finds the first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Callable, Collection, Sequence

import psycopg

from ...domain.errors import StorageError
from ...domain.routing import modem_keys
from ...domain.sms import OutboundSms, State, can_move
from ..records import MESSAGE_COLUMNS, Enqueued, EnqueuedBatch, Limit, limits_per_message, outbound_from_row
from .database import Database
from .enqueue import CHANNEL, insert_batch
from .leases import Leases
from .queue_reads import QueueReads, fetch_all, fetch_one
from .transitions import claim, move

log = logging.getLogger(__name__)

# Seconds a claim holds a message for its host; the host renews it every LEASE / 3 while it runs.
LEASE = 30.0
# Pause between two tries to LISTEN again after the connection was lost.
LISTEN_RETRY = 1.0

_COLUMNS = MESSAGE_COLUMNS


class Store(QueueReads):
    """store.Store on PostgreSQL; also the database the other record kinds (OtpStore, InboxStore, WebhookStore) of
    this backend share. `node`: this host's name in the fleet ([database] node)."""

    def __init__(self, url: str, password: str | None, node: str, *, lease: float = LEASE):
        self.db = Database(url, password)
        self.leases = Leases(self.db)       # this host's blocks of the hot rate-limit buckets (OTP sends)
        self.node = node
        self.lease = lease
        self._listeners: list[Callable[[], None]] = []
        self._listen_task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"Store({self.db.url!r}, node={self.node!r})"

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        if self._listen_task:
            self._listen_task.cancel()
            await asyncio.gather(self._listen_task, return_exceptions=True)
        await self.leases.close()
        await self.db.close()

    # ---- wake-ups across hosts ---------------------------------------------------------------------------------
    def on_new_message(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever any host (this one too) queues a message. Starts listening on first use."""
        self._listeners.append(callback)
        if self._listen_task is None:
            self._listen_task = asyncio.create_task(self._listen(), name="queue-listen")

    async def _listen(self) -> None:
        while True:
            try:
                conn = await self.db.connect(autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._wake()        # whatever was queued while not listening is looked at now
                    async for _ in conn.notifies():
                        self._wake()
            except (psycopg.OperationalError, StorageError) as exc:
                log.debug("listening for new messages: %s; again in %.0f s", exc, LISTEN_RETRY)
            await asyncio.sleep(LISTEN_RETRY)

    def _wake(self) -> None:
        for callback in self._listeners:
            callback()

    # ---- writes ------------------------------------------------------------------------------------------------
    async def enqueue(self, sms: OutboundSms, *, bound: int | None = None, limits: Sequence[Limit] = ()) -> Enqueued:
        """Durable when this returns (committed). `bound`: refuse (QueueFull) when this many messages are queued
        already; `limits`: count a hit on each or refuse (RateLimited), all in the transaction that inserts."""
        queued = await self.enqueue_batch([sms], bound=bound, limits=[limits])
        return Enqueued(queued.messages[0], queued.created)

    async def enqueue_batch(self, batch: Sequence[OutboundSms], *, bound: int | None = None,
                            limits: Sequence[Sequence[Limit]] = ()) -> EnqueuedBatch:
        """Every message of `batch` or none, in one request's savepoint of the group commit (store.Store)."""
        per_message = limits_per_message(batch, limits)

        async def work(conn):
            return await insert_batch(conn, batch, bound, per_message)
        try:
            return await self.db.batched(work)
        except psycopg.errors.UniqueViolation:
            if not batch[0].idempotency_key:
                raise
            return await self.db.batched(work)  # another host accepted the same key meanwhile: find its messages

    async def claim_next(self, modem: str, now: float | None = None, *,
                         routes: Collection[str] | None = None) -> OutboundSms | None:
        """queued -> sending for the most urgent due message no other host is claiming and `modem` may send (its
        route is NULL or one of `routes`; None: the modem's own key only); the attempt counts now, and the message
        is this host's until its lease runs out."""
        now = time.time() if now is None else now
        keys = sorted(modem_keys(modem) if routes is None else routes)

        async def work(conn):
            row = await claim(conn, now, f"claimed by {modem} on {self.node}", routes=keys,
                              sets={"modem": modem, "node": self.node, "lease_until": now + self.lease},
                              adjust=("count_attempt",), returning=_COLUMNS)
            return None if row is None else outbound_from_row(row)
        return await self.db.write_one(work)

    async def mark_sent(self, message_id: str, references: list[int], *, purge_text: bool) -> bool:
        now = time.time()
        sets = {"sent_at": now, "refs": json.dumps(references), "error_code": None, "error_text": None}
        if purge_text:
            sets["body"] = None
        return await self._end_send(message_id, State.SENT, "sent", now, sets)

    async def mark_retry(self, message_id: str, next_attempt_at: float, reason: str, *,
                         error_code: str | None = None, refund_attempt: bool = False,
                         possibly_sent: bool = False) -> bool:
        sets = {"next_attempt_at": next_attempt_at, "error_code": error_code, "error_text": reason}
        adjust = (("refund_attempt",) if refund_attempt else ()) + (("possibly_sent",) if possibly_sent else ())
        return await self._end_send(message_id, State.QUEUED, reason, time.time(), sets, adjust)

    async def mark_failed(self, message_id: str, reason: str, *, error_code: str | None = None,
                          purge_text: bool = False) -> bool:
        sets = {"error_code": error_code, "error_text": reason}
        if purge_text:
            sets["body"] = None
        now = time.time()

        async def work(conn):
            row = await fetch_one(conn, "SELECT state FROM messages WHERE id = %s", (message_id,))
            if row is None or row["state"] not in ("queued", "sending", "sent"):
                return False
            source = State(row["state"])
            owner, lease = (self.node, {"lease_until": None}) if source is State.SENDING else (None, {})
            return await move(conn, message_id, source, State.FAILED, reason, now, sets={**sets, **lease},
                              held_by=owner) is not None
        return await self.db.write(work)

    async def _end_send(self, message_id: str, target: State, reason: str, now: float, sets: dict,
                        adjust: tuple[str, ...] = ()) -> bool:
        """sending -> target for a message this host holds; the lease ends with the send."""
        return await self.db.write_one(lambda conn: _moved(move(
            conn, message_id, State.SENDING, target, reason, now, sets={**sets, "lease_until": None},
            adjust=adjust, held_by=self.node)))

    async def retry(self, message_id: str) -> bool:
        """failed -> queued with fresh attempts, by an admin (plain SMS whose text is kept only)."""
        async def work(conn):
            row = await fetch_one(conn, "SELECT kind, body FROM messages WHERE id = %s AND state = 'failed'",
                             (message_id,))
            if row is None or row["kind"] != "sms" or row["body"] is None:
                return False
            now = time.time()
            return await _moved(move(conn, message_id, State.FAILED, State.QUEUED, "retried by an admin", now,
                                     sets={"attempts": 0, "ambiguous": 0, "next_attempt_at": now, "error_code": None,
                                           "error_text": None}))
        return await self.db.write(work)

    async def cancel(self, message_id: str) -> bool:
        return await self.db.write(lambda conn: _moved(move(
            conn, message_id, State.QUEUED, State.CANCELED, "canceled by client", time.time(), sets={"body": None})))

    async def transition(self, message_id: str, sources: tuple[State, ...], target: State, reason: str, *,
                         now: float | None = None, **sets) -> bool:
        """target from whichever of `sources` the message is in (tests and admin tools)."""
        bad = [s for s in sources if not can_move(s, target)]
        if bad:
            raise ValueError(f"{bad[0].value} -> {target.value} is not a lifecycle transition")
        now = time.time() if now is None else now

        async def work(conn):
            row = await fetch_one(conn, "SELECT state FROM messages WHERE id = %s", (message_id,))
            if row is None or State(row["state"]) not in sources:
                return False
            return await _moved(move(conn, message_id, State(row["state"]), target, reason, now, sets=sets))
        return await self.db.write(work)

    async def purge_texts(self, finished_before: float) -> int:
        async def work(conn):
            cursor = await conn.execute("UPDATE messages SET body = NULL WHERE body IS NOT NULL AND state IN "
                                        "('sent', 'delivered', 'failed', 'expired', 'canceled') AND updated_at < %s",
                                        (finished_before,))
            return cursor.rowcount
        return await self.db.write(work)

    async def expire_due(self, now: float | None = None) -> list[str]:
        """Queued messages whose deadline passed end as expired (an OTP is never sent after its code expired).
        Rows another host is expiring or claiming right now are skipped, not waited for."""
        now = time.time() if now is None else now

        async def work(conn):
            due = await fetch_all(conn, "SELECT id FROM messages WHERE state = 'queued' AND deadline IS NOT NULL AND "
                                   "deadline <= %s FOR UPDATE SKIP LOCKED", (now,))
            sets = {"body": None, "error_text": "deadline passed before it could be sent"}
            return [row["id"] for row in due
                    if await move(conn, row["id"], State.QUEUED, State.EXPIRED, "deadline passed", now, sets=sets)]
        return await self.db.write(work)

    async def recover_interrupted(self, max_attempts: int, max_ambiguous: int) -> list[str]:
        """At start-up: this host's own sends that its previous run left `sending` (see services/outbox)."""
        return await self.db.write(lambda conn: _recover(
            conn, time.time(), max_attempts, max_ambiguous, "node = %s", (self.node,),
            "interrupted while sending"))

    async def recover_abandoned(self, max_attempts: int, max_ambiguous: int) -> list[str]:
        """Sends whose host stopped renewing their lease (it died, or lost the database): taken back like an
        interrupted send of this host's own."""
        now = time.time()
        return await self.db.write(lambda conn: _recover(
            conn, now, max_attempts, max_ambiguous, "lease_until < %s", (now,),
            "its host stopped renewing the lease"))

    async def renew(self, modems: list[dict], now: float | None = None, *, otp_key: str = "",
                    config: dict[str, str] | None = None) -> int:
        """This host is alive: its row in `nodes` (with its modems as it sees them, which OTP secret it has, and its
        config's digests: config/digest.py) and the leases of its sends in flight run on for another LEASE. Returns
        how many leases were renewed."""
        now = time.time() if now is None else now

        async def work(conn):
            await conn.execute(
                "INSERT INTO nodes (name, started_at, renewed_at, lease, modems, otp_key, config) VALUES (%s, %s, "
                "%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET renewed_at = excluded.renewed_at, "
                "lease = excluded.lease, modems = excluded.modems, otp_key = excluded.otp_key, "
                "config = excluded.config",
                (self.node, now, now, self.lease, json.dumps(modems), otp_key, json.dumps(config or {})))
            cursor = await conn.execute("UPDATE messages SET lease_until = %s WHERE state = 'sending' AND node = %s",
                                        (now + self.lease, self.node))
            return cursor.rowcount
        return await self.db.write(work)

    async def next_due_at(self, routes: Collection[str] | None = None) -> float | None:
        """When the next queued message is due; with `routes`, the next one a modem serving them may send."""
        where, args = ("", ()) if routes is None else (" AND (route IS NULL OR route = ANY(%s::text[]))",
                                                       (sorted(routes),))

        async def work(conn):
            row = await fetch_one(conn, f"SELECT min(next_attempt_at) AS at FROM messages WHERE state = 'queued'{where}",
                             args)
            return row["at"]
        return await self.db.read(work)


async def _moved(moving) -> bool:
    return await moving is not None


# ---- SQL, run inside a transaction of Database.write ------------------------------------------------------------
async def _recover(conn: psycopg.AsyncConnection, now: float, max_attempts: int, max_ambiguous: int, which: str,
                   args: tuple, why: str) -> list[str]:
    rows = await fetch_all(conn, f"SELECT id, attempts, ambiguous FROM messages WHERE state = 'sending' AND {which} "
                            "FOR UPDATE SKIP LOCKED", args)
    for row in rows:
        if row["attempts"] >= max_attempts or row["ambiguous"] >= max_ambiguous:
            await move(conn, row["id"], State.SENDING, State.FAILED, f"{why}, no resend left", now,
                       sets={"error_code": "interrupted", "lease_until": None,
                             "error_text": f"{why}; may have been sent, not resending again"},
                       adjust=("forget_otp_text",))
        else:
            await move(conn, row["id"], State.SENDING, State.QUEUED, f"{why}; may be a duplicate", now,
                       sets={"next_attempt_at": now, "lease_until": None}, adjust=("possibly_sent",))
    return [row["id"] for row in rows]
