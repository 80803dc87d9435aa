"""The message endpoints of the HTTP API: queue, list, show, cancel and retry outbound SMS (/v1/messages), list
received SMS (/v1/inbox), and the JSON views of both. No AT, no SQL here: the store does the work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from aiohttp import web

from .limits import DEFAULT_PAGE, DEFAULT_PRIORITY, MAX_PAGE, PRIORITY_NAMES
from .validation import (APP, Problem, daemon_of, idempotency_key, int_param, invalid, iso, limits_of, part_count,
                         priority_field, send_limits, send_request, text_field, ttl_field, unavailable_unless_queued)
from ..domain.redact import mask_number
from ..domain.sms import OutboundSms, Priority, State, new_message_id
from ..store import IdempotencyMismatch

log = logging.getLogger("modemd.api")   # the API's log lines keep one logger name, whichever module writes


# ---- messages ----------------------------------------------------------------------------------------------------
async def create_message(request: web.Request) -> web.Response:
    daemon, body, to = await send_request(request, {"to", "text", "priority", "ttl", "queue_if_unavailable"})
    text = text_field(body.get("text"))
    parts = part_count(text)
    priority = priority_field(body["priority"]) if "priority" in body else DEFAULT_PRIORITY
    ttl = ttl_field(body.get("ttl"))
    key = idempotency_key(request)
    unavailable_unless_queued(daemon, body)
    now = time.time()
    sms = OutboundSms(id=new_message_id(now), to=to, text=text, parts=parts, priority=priority, next_attempt_at=now,
                      deadline=now + ttl if ttl else None, created_at=now, updated_at=now, idempotency_key=key,
                      app=request[APP].name, request_digest=request_digest(to, text, priority, ttl))
    try:
        result = await daemon.store.enqueue(sms, bound=limits_of(daemon).sms_bound, limits=send_limits(request, to))
    except IdempotencyMismatch as exc:
        raise Problem(422, "Idempotency-Key reused", "this Idempotency-Key was used in the last 24 h for a "
                      "different message (another to, text, priority or ttl); nothing was queued. Use a new key "
                      "for a new message.", field="Idempotency-Key", first_id=exc.first.id) from None
    if result.created:
        log.info("message %s to %s accepted (%d part(s), %s priority)", sms.id, mask_number(sms.to), sms.parts,
                 PRIORITY_NAMES[priority])
        daemon.message_accepted("sms")
    return web.json_response(_message_summary(result.message), status=202 if result.created else 200,
                             headers={"Location": f"/v1/messages/{result.message.id}"})


async def get_message(request: web.Request) -> web.Response:
    sms = await _find(request)
    return web.json_response(message_view(sms))


async def list_messages(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    query = request.query
    state = None
    if "status" in query:
        try:
            state = State(query["status"])
        except ValueError:
            raise invalid("status", f"one of {', '.join(s.value for s in State)}") from None
    limit = int_param(query.get("limit", str(DEFAULT_PAGE)), "limit", 1, MAX_PAGE)
    after = query.get("after") or None
    app = request[APP]
    messages = await daemon.store.list(state=state, limit=limit, after=after, app=None if app.admin else app.name)
    next_after = messages[-1].id if len(messages) == limit else None
    return web.json_response({"data": [message_view(m) for m in messages], "next_after": next_after})


async def cancel_message(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    sms = await _find(request)
    if not await daemon.store.cancel(sms.id):
        current = await daemon.store.get(sms.id)
        raise Problem(409, "Not cancelable", f"the message is {current.state.value}; only queued messages can be "
                      "canceled", status_now=current.state.value)
    return web.json_response(message_view(await daemon.store.get(sms.id)))


async def retry_message(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    sms = await _find(request)
    if not await daemon.store.retry(sms.id):
        current = await daemon.store.get(sms.id)
        reason = ("OTP messages are not retried; send a new code" if current.kind.value == "otp"
                  else f"the message is {current.state.value}; only failed messages can be retried")
        raise Problem(409, "Not retryable", reason, status_now=current.state.value)
    log.info("message %s requeued by an admin", sms.id)
    daemon.message_accepted("retry")
    return web.json_response(message_view(await daemon.store.get(sms.id)))


async def _find(request: web.Request) -> OutboundSms:
    """The message, if it is this app's (admin: any app's). Another app's message answers exactly as an id that
    does not exist: same status, same body, and the same one lookup by primary key behind both."""
    sms = await daemon_of(request).store.get(request.match_info["id"])
    app = request[APP]
    if sms is None or not (app.admin or sms.app == app.name):
        raise Problem(404, "Not found", "no message with that id")
    return sms


def request_digest(to: str, text: str, priority: Priority, ttl: int | None) -> str:
    """What the request asked for, after normalising (a number written two ways is the same request)."""
    canonical = json.dumps([to, text, int(priority), ttl], ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _message_summary(sms: OutboundSms) -> dict:
    return {"id": sms.id, "status": sms.state.value, "to": sms.to, "parts": sms.parts}


def message_view(sms: OutboundSms) -> dict:
    view = {**_message_summary(sms), "priority": PRIORITY_NAMES[sms.priority],
            "attempts": sms.attempts, "created_at": iso(sms.created_at)}
    optional = {"error": _error(sms), "modem": sms.modem, "sent_at": iso(sms.sent_at),
                "delivered_at": iso(sms.delivered_at), "expires_at": iso(sms.deadline),
                "possible_duplicate": sms.possible_duplicate or None}
    view.update({k: v for k, v in optional.items() if v is not None})
    return view


def _error(sms: OutboundSms) -> dict | None:
    if not sms.error_code and not sms.error_text:
        return None
    return {"code": sms.error_code, "message": sms.error_text}


# ---- inbox -------------------------------------------------------------------------------------------------------
async def list_inbox(request: web.Request) -> web.Response:
    """Received SMS, oldest first; a client keeps the last id it saw and asks for what came `after` it."""
    daemon = daemon_of(request)
    limit = int_param(request.query.get("limit", str(DEFAULT_PAGE)), "limit", 1, MAX_PAGE)
    after = request.query.get("after") or None
    messages = await daemon.inbox_store.list(after=after, limit=limit)
    next_after = messages[-1].id if messages else after
    return web.json_response({"data": [inbox_view(m) for m in messages], "next_after": next_after})


def inbox_view(message) -> dict:
    view = {"id": message.id, "from": message.sender, "text": message.text, "parts": message.parts,
            "complete": message.complete, "modem": message.modem, "received_at": iso(message.received_at)}
    if message.sc_timestamp is not None:
        view["sent_at"] = iso(message.sc_timestamp)
    return view
