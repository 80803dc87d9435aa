"""What the services and the API call on the store, whatever the backend: four typing.Protocol classes, one per
kind of record. The SQLite backend (store/sqlite/) has a class of the same name for each; the daemon builds them
and hands them to the services (`Outbox(store)`, `OtpService(OtpStore(store))`, ...), which see only these.

Every method takes and returns records of store.records and domain.sms, never a connection or a row: a backend's
own types stay inside it. Every write is durable when it returns (committed), and a refusal (store.errors) has
written nothing. A message changes state only by a compare-and-set that also logs the change (DESIGN.md, "One gate
for state"): the methods that move a message return False when it was not in a state they move it from.
"""

from __future__ import annotations

from typing import Callable, Collection, Protocol, Sequence

from ..domain.sms import OutboundSms, State
from .records import (Delivery, Enqueued, EnqueuedBatch, HookSpec, InboundPart, InboxMessage, Limit, PendingCode,
                      RegisteredHook, Render, Verification, VerifyOutcome)


class Store(Protocol):
    """The outbound queue: messages, their lifecycle moves, and what is read of them."""

    async def enqueue(self, sms: OutboundSms, *, bound: int | None = None,
                      limits: Sequence[Limit] = ()) -> Enqueued:
        """Queue `sms` (IdempotencyMismatch, QueueFull past `bound` queued, RateLimited by `limits`); a replay of
        an accepted Idempotency-Key returns the first message and counts against nothing."""

    async def enqueue_batch(self, batch: Sequence[OutboundSms], *, bound: int | None = None,
                            limits: Sequence[Sequence[Limit]] = ()) -> EnqueuedBatch:
        """Queue every message of `batch` or none, in one transaction. `limits[i]`: what batch[i] counts against,
        counted message after message as if they had come one by one (RateLimited at the first that does not
        fit, with its wait); `bound`: QueueFull unless all of them fit. batch[0] carries the request's
        Idempotency-Key and digest (the others none): a replay returns the messages the key first queued, in their
        order, counting against nothing. enqueue(sms) is the batch of one."""

    async def claim_next(self, modem: str, now: float | None = None, *,
                         routes: Collection[str] | None = None) -> OutboundSms | None:
        """queued -> sending for the most urgent due message whose route (domain.routing) is None or one of
        `routes`, the keys of the modem claiming (None: its own name's key only); its attempt counts from here. A
        message routed elsewhere is left for its modems, however urgent."""

    async def mark_sent(self, message_id: str, references: list[int], *, purge_text: bool) -> bool: ...

    async def mark_retry(self, message_id: str, next_attempt_at: float, reason: str, *,
                         error_code: str | None = None, refund_attempt: bool = False,
                         possibly_sent: bool = False) -> bool:
        """sending -> queued; refund_attempt: the message never got its try; possibly_sent: a possible duplicate."""

    async def mark_failed(self, message_id: str, reason: str, *, error_code: str | None = None,
                          purge_text: bool = False) -> bool: ...

    async def retry(self, message_id: str) -> bool:
        """failed -> queued with fresh attempts, by an admin (plain SMS whose text is kept only)."""

    async def cancel(self, message_id: str) -> bool:
        """queued -> canceled, by the client."""

    async def expire_due(self, now: float | None = None) -> list[str]:
        """Queued messages past their deadline -> expired; returns their ids."""

    async def recover_interrupted(self, max_attempts: int, max_ambiguous: int) -> list[str]:
        """At start-up: messages left `sending` by a crash go back to queued (possible duplicates) or fail."""

    async def recover_abandoned(self, max_attempts: int, max_ambiguous: int) -> list[str]:
        """While running: messages another host left `sending` and stopped renewing the lease of (it died, or lost
        the database) go back to queued (possible duplicates) or fail, as recover_interrupted does."""

    async def purge_texts(self, finished_before: float) -> int:
        """Erase the texts of messages that finished before then; the records stay."""

    async def get(self, message_id: str) -> OutboundSms | None: ...

    async def counts(self) -> dict[str, int]:
        """Messages per state (states with none left out)."""

    async def next_due_at(self, routes: Collection[str] | None = None) -> float | None:
        """When the next queued message is due (None: none queued); with `routes`, of the messages claim_next with
        those routes may take."""

    async def events(self, message_id: str) -> list[dict]:
        """The message's history, oldest first: {at, from_state, to_state, reason} per move."""

    async def list(self, *, state: State | None = None, limit: int = 50, after: str | None = None,
                   app: str | None = None) -> list[OutboundSms]:
        """Newest first; `after`: the last id of the previous page; `app`: only its messages."""

    async def oldest_queued_at(self) -> float | None:
        """When the longest-waiting queued message was accepted (None: the queue is empty)."""

    async def sends_since(self, since: float, limit: int) -> list[tuple[float, float]]:
        """(when, seconds from accepted to sent) of each move to sent at or after `since`, newest first, at most
        `limit` of them (the admin page's plots: the bound keeps a busy day from being read whole)."""

    async def batch(self, batch_id: str, *, app: str | None = None) -> list[OutboundSms]:
        """The messages of a batch in the order its request named them; `app`: only if they are its ([] if not)."""

    async def sent_parts(self, modem: str, since: float) -> int:
        """The SMS parts `modem` sent since then, with those that may have left (an unconfirmed, ambiguous send):
        what a SIM budget counts (store/modem_usage.py has the definitions)."""

    async def modem_counts(self, modem: str, since: float) -> dict[str, int]:
        """{sent, failed, possible_duplicate, unknown}: `modem`'s messages since then (store/modem_usage.py)."""

    async def queued_by_route(self) -> dict[str | None, tuple[int, float]]:
        """Queued messages per route (None: any modem): (how many, the oldest's created_at)."""


class OtpStore(Protocol):
    """One-time passcode verifications and the rate limits of every send path."""

    async def issue(self, verification: Verification, sms: OutboundSms, limits: list[Limit],
                    bound: int | None = None, *, resend_until: float | None = None) -> PendingCode | None:
        """Count the limits (or RateLimited), supersede the app's pending code for the number (its SMS, if still
        queued, is canceled), write the verification and its SMS: one transaction. With `resend_until`, if the app
        has a pending code for the number still valid after that time, that code is returned instead and nothing is
        written (the caller sends it again: resend())."""

    async def resend(self, verification_id: str, sms: OutboundSms, limits: list[Limit], bound: int | None = None,
                     *, now: float, valid_after: float, app: str) -> int | None:
        """Send a pending code again in `sms`: if the app's verification is still pending and valid after
        `valid_after`, count the limits (or RateLimited), cancel its last SMS if still queued, queue `sms` and count
        the send; returns its sends. None, having written nothing, if the code is no longer pending."""

    async def hit(self, limits: list[Limit], now: float) -> None:
        """Count one hit on each limit, or raise RateLimited having counted none."""

    async def verify(self, destination: str | None, verification_id: str | None, now: float,
                     check: Callable[[Verification | None], bool], lock_after: int,
                     limits: Callable[[Verification], list[Limit]] = lambda v: [],
                     app: str | None = None) -> VerifyOutcome:
        """Find the app's code (app None: any, for admin), count `limits(found)`, apply expiry, attempt caps and
        the wrong-code lock, compare with `check`, consume on success."""

    async def unlock(self, destination: str, app: str | None = None) -> int:
        """Lift the wrong-code lock of a number (one app's, or every app's): how many locks went."""

    async def lookup(self, app: str, now: float, *, verification_id: str | None = None,
                     destination: str | None = None) -> Verification | None:
        """The app's live code (pending, or out of checks; not expired) by id, or the number's latest live one.
        None for an approved (deleted), expired, superseded or canceled code, and for another app's."""

    async def cancel(self, verification_id: str, app: str, now: float) -> Verification | None:
        """The app's live code -> canceled, and its SMS -> canceled if still queued (the one gate): one transaction.
        The canceled verification, or None (nothing written) if the app has no live code by that id."""

    async def prune(self, now: float, keep: float) -> None:
        """Drop verifications and rate-limit hits older than `keep` seconds."""


class InboxStore(Protocol):
    """Received SMS (parts, reassembly, the inbox) and the delivery reports of sent ones."""

    async def add_part(self, part: InboundPart, new_id: str) -> InboxMessage | None:
        """Store one part (a repeat is dropped); the inbox message if this part completed one."""

    async def flush_stale(self, older_than: float, new_id: Callable[[], str]) -> list[InboxMessage]:
        """Messages whose first part arrived before `older_than` go to the inbox as they are, incomplete."""

    async def get(self, message_id: str) -> InboxMessage | None: ...

    async def apply_status_report(self, modem: str, reference: int, recipient: str, status: int,
                                  discharge_time: float | None, now: float,
                                  window: float) -> tuple[str, str] | None:
        """Match a report to the message `modem` sent to `recipient` with this TP-MR within `window` seconds and
        settle it (domain.delivery); (message id, new state) if it moved. A report that matched nothing is kept
        unmatched (received_at = `now`)."""

    async def apply_held_report(self, message_id: str, modem: str, reference: int, recipient: str,
                                received_at: float) -> tuple[str, str] | None:
        """A report that came before its message was recorded `sent` (a phone reports at once, and the outbox
        writes "sent" just after): the unmatched report stored by apply_status_report at `received_at`, linked to
        `message_id` if that message is sent by `modem` to `recipient` with this reference, and settled. (message
        id, new state) if it moved; None if the report or the message does not fit (nothing written)."""

    async def list(self, *, after: str | None = None, limit: int = 50) -> list[InboxMessage]:
        """Oldest first; `after`: the last id seen."""


class WebhookStore(Protocol):
    """Webhook deliveries, captured from the durable logs of message moves and received SMS."""

    async def behind(self) -> bool:
        """True if the logs moved past what was captured."""

    async def capture(self, hooks: Callable[[], Sequence[HookSpec]], render: Render,
                      now: float) -> tuple[int, bool]:
        """The next batch of log entries -> one delivery per webhook that wants it, and the read position moved,
        atomically. Returns (deliveries created, more left)."""

    async def due(self, hook: str, now: float, limit: int, skip: set[int]) -> list[Delivery]:
        """Pending deliveries of `hook` that are due and not behind an earlier pending one of the same subject."""

    async def next_due_at(self, hook: str) -> float | None: ...

    async def mark_done(self, seq: int, now: float) -> None: ...

    async def mark_retry(self, seq: int, next_attempt_at: float, error: str) -> None: ...

    async def mark_failed(self, seq: int, now: float, error: str) -> None: ...

    async def drop_unknown(self, keys: Callable[[], Sequence[str]]) -> dict[str, int]:
        """Delete the pending deliveries of webhooks not in keys(): {hook key: deliveries dropped}."""

    async def pending_count(self, hook: str | None = None) -> int: ...

    async def deliveries(self, hook: str | None = None) -> list[dict]:
        """Every delivery, oldest first (inspection and tests)."""

    async def unsettled(self, limit: int) -> list[dict]:
        """Deliveries pending or failed, newest first, at most `limit`: {seq, hook, event_type, state, attempts,
        queued_at, next_attempt_at, finished_at, last_error} (the admin page; never the body, which names numbers)."""

    async def prune(self, done_before: float, failed_before: float) -> int: ...

    async def register(self, hook: RegisteredHook, *, most: int) -> bool:
        """Add the app's webhook, or replace the one of the app with its id; False (nothing written) if that would
        give the app more than `most`."""

    async def registered(self, app: str | None = None) -> list[RegisteredHook]:
        """The registered webhooks (of one app), oldest first."""

    async def unregister(self, app: str, hook_id: str) -> bool:
        """Remove the app's webhook with that id; False if the app has none."""
