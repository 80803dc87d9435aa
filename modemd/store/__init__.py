"""The durable store, as the services and the API see it: the outbound queue with its compare-and-set state
changes, OTP verifications and rate limits, the inbox and delivery reports, webhook deliveries.

Offers: the interfaces (interface.py: Store, OtpStore, InboxStore, WebhookStore, typing.Protocol classes), the
records they take and return (records.py) and the refusals they raise (errors.py), none of them tied to a backend.
Services and the API import from here only; the daemon builds a backend and hands it to them.
Backends sit below, one package each: sqlite/ (the embedded default: the file, group commit, schema and
migrations, one module per kind of record, the one statement that changes a message's state).
postgres/ (several hosts on one PostgreSQL, chosen by [database] url: the same classes, with claims, leases and
locks that hold across hosts; docs/fleet.md).
May import: domain, codec, log. Nothing above the store writes SQL.
"""

from .errors import IdempotencyMismatch, QueueFull, RateLimited, Refused
from .interface import InboxStore, OtpStore, Store, WebhookStore
from .records import (IDEMPOTENCY_WINDOW, LOCK_DECAY, Delivery, Enqueued, EnqueuedBatch, HookSpec, InboundPart,
                      InboxMessage, Limit, PendingCode, RegisteredHook, Render, SourceEvent, Verification,
                      VerifyOutcome)

__all__ = ["Store", "OtpStore", "InboxStore", "WebhookStore",
           "Enqueued", "EnqueuedBatch", "Limit", "PendingCode", "Verification", "VerifyOutcome", "InboundPart",
           "InboxMessage", "SourceEvent", "HookSpec", "RegisteredHook", "Delivery", "Render", "IDEMPOTENCY_WINDOW",
           "LOCK_DECAY",
           "Refused", "RateLimited", "QueueFull", "IdempotencyMismatch"]
