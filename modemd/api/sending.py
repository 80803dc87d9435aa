"""The one way an HTTP API queues SMS: POST /v1/messages and the compatibility APIs (api/asg/) each check their own
request shape, then hand what it asks for (a SendOrder) to queue_send(), which builds the messages, checks the
app's limits for a batch, and has the store queue them all or none in one transaction (the queue's bound and the
rate limits counted there). No AT, no SQL here.

An API that has its own words for a field passes them in the order (`recipients_field`), so a refusal names the
field as its client wrote it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, replace

from aiohttp import web

from .limits import PRIORITY_NAMES
from .recipients import within_app_limits
from .routing import message_route
from .validation import APP, DaemonView, daemon_of, limits_of, send_limits
from ..domain.redact import mask_number
from ..domain.sms import Kind, OutboundSms, Priority, new_message_id
from ..store import EnqueuedBatch

log = logging.getLogger("modemd.api")   # the API's log lines keep one logger name, whichever module writes


@dataclass(frozen=True)
class SendOrder:
    """What a send request asks for, already checked: numbers normalized and allowed, text counted in parts."""
    numbers: list[str]
    text: str
    parts: int
    priority: Priority
    ttl: int | None                     # seconds until it expires unsent; None: no deadline
    batch_id: str | None                # None: one number, a message of its own
    idempotency_key: str | None = None  # scoped to the app already (validation.idempotency_key)
    recipients_field: str = "to"        # the request's name for its numbers, for a refusal
    route: str | None = None            # the modem or group the request named (routing.py); None: the rules decide


async def queue_send(request: web.Request, order: SendOrder) -> EnqueuedBatch:
    """Queue the order's messages (store.Store.enqueue_batch: all or none; RateLimited, QueueFull,
    IdempotencyMismatch as it raises them) and log what was accepted."""
    daemon = daemon_of(request)
    batch = _new_messages(request, order)
    if order.batch_id is not None:
        within_app_limits(len(batch), send_limits(request), order.recipients_field)
    result = await daemon.store.enqueue_batch(batch, bound=limits_of(daemon).sms_bound,
                                              limits=[send_limits(request, sms.to) for sms in batch])
    if result.created:
        _log_accepted(daemon, result.messages)
    return result


def _new_messages(request: web.Request, order: SendOrder) -> list[OutboundSms]:
    """One message per number. The first carries the request's idempotency key and digest: what the store
    recognises a replay by."""
    now, app, daemon = time.time(), request[APP].name, daemon_of(request)
    batch = [OutboundSms(id=new_message_id(now), to=to, text=order.text, parts=order.parts, priority=order.priority,
                         next_attempt_at=now, deadline=now + order.ttl if order.ttl else None, created_at=now,
                         updated_at=now, app=app, batch_id=order.batch_id,
                         route=message_route(daemon, order.route, to, app=app, kind=Kind.SMS,
                                             priority=order.priority))
             for to in order.numbers]
    to = order.numbers if order.batch_id is not None else order.numbers[0]
    digest = request_digest(to, order.text, order.priority, order.ttl, order.route)
    batch[0] = replace(batch[0], idempotency_key=order.idempotency_key, request_digest=digest)
    return batch


def request_digest(to: str | list[str], text: str, priority: Priority, ttl: int | None,
                   route: str | None = None) -> str:
    """What the request asked for, after normalising (a number written two ways is the same request). `to` as the
    request gave it, one number or a list: a batch of one is not the same request as its number alone. The route
    the request named counts (the same text pinned to another modem is another request); it is appended only when
    given, so a request naming none keeps the digest it had before routes existed (a replay across the upgrade)."""
    canonical = json.dumps([to, text, int(priority), ttl] + ([route] if route is not None else []),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _log_accepted(daemon: DaemonView, messages: list[OutboundSms]) -> None:
    first = messages[0]
    if first.batch_id is not None:
        log.info("batch %s of %d messages accepted (%d part(s) each, %s priority)", first.batch_id, len(messages),
                 first.parts, PRIORITY_NAMES[first.priority])
    else:
        log.info("message %s to %s accepted (%d part(s), %s priority)", first.id, mask_number(first.to),
                 first.parts, PRIORITY_NAMES[first.priority])
    for _ in messages:
        daemon.message_accepted("sms")
