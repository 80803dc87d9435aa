"""The message endpoints of the HTTP API: queue, list, show, cancel and retry outbound SMS (/v1/messages), show the
messages one request queued for several numbers (/v1/batches/{id}), list received SMS (/v1/inbox), and the JSON
views of both. No AT, no SQL here: the store does the work.
"""

from __future__ import annotations

import logging

from aiohttp import web

from .limits import DEFAULT_PAGE, DEFAULT_PRIORITY, MAX_PAGE, PRIORITY_NAMES
from .recipients import recipients
from .routing import (ROUTE_FIELDS, message_route, requested_route, unavailable_unless_routable,
                      waiting_reason)
from .sending import SendOrder, queue_send
from .validation import (APP, Problem, daemon_of, destination, idempotency_key, int_param, invalid, iso, part_count,
                         priority_field, send_body, text_field, ttl_field, unavailable_unless_queued)
from ..domain.routing import route_view
from ..domain.sms import Kind, OutboundSms, State, new_batch_id
from ..store import IdempotencyMismatch

log = logging.getLogger("modemd.api")   # the API's log lines keep one logger name, whichever module writes


# ---- messages ----------------------------------------------------------------------------------------------------
SEND_FIELDS = {"to", "text", "priority", "ttl", "queue_if_unavailable"} | ROUTE_FIELDS


async def create_message(request: web.Request) -> web.Response:
    """`to` one number: the answer is its message. An array: one message per number, queued all or none, and the
    answer is their batch (recipients.py says why and how). sending.py queues them."""
    daemon, body = await send_body(request, SEND_FIELDS)
    several = isinstance(body.get("to"), list)
    numbers = recipients(daemon, body["to"]) if several else [destination(daemon, body.get("to"))]
    order = _order(request, body, numbers, several, requested_route(daemon, body))
    unavailable_unless_queued(daemon, body)
    unavailable_unless_routable(daemon, body, {message_route(daemon, order.route, n, app=request[APP].name,
                                                             kind=Kind.SMS, priority=order.priority)
                                               for n in numbers})
    try:
        result = await queue_send(request, order)
    except IdempotencyMismatch as exc:
        first_batch = {"first_batch_id": exc.first.batch_id} if exc.first.batch_id else {}
        raise Problem(422, "Idempotency-Key reused", "this Idempotency-Key was used in the last 24 h for a "
                      "different message (another to, text, priority, ttl, modem or group); nothing was queued. Use "
                      "a new key for a new message.", field="Idempotency-Key", first_id=exc.first.id,
                      **first_batch) from None
    status = 202 if result.created else 200
    if several:
        return _batch_response(result.messages, status)
    sms = result.messages[0]
    return web.json_response(message_summary(sms), status=status, headers={"Location": f"/v1/messages/{sms.id}"})


def _order(request: web.Request, body: dict, numbers: list[str], several: bool, route: str | None) -> SendOrder:
    """The body's other fields, checked; a batch id if the request named several numbers."""
    text = text_field(body.get("text"))
    return SendOrder(numbers=numbers, text=text, parts=part_count(text),
                     priority=priority_field(body["priority"]) if "priority" in body else DEFAULT_PRIORITY,
                     ttl=ttl_field(body.get("ttl")), batch_id=new_batch_id() if several else None,
                     idempotency_key=idempotency_key(request), route=route)


def _batch_response(messages: list[OutboundSms], status: int) -> web.Response:
    """POST's answer for an array: the batch id and each message's summary, in the request's order."""
    batch_id = messages[0].batch_id
    return web.json_response({"batch_id": batch_id, "messages": [message_summary(m) for m in messages]},
                             status=status, headers={"Location": f"/v1/batches/{batch_id}"})


async def get_batch(request: web.Request) -> web.Response:
    """The messages of one of this app's batches (admin: any app's) in their request's order, each as
    GET /v1/messages/{id} shows it. Another app's batch answers as an unknown id does."""
    app = request[APP]
    batch_id = request.match_info["id"]
    messages = await daemon_of(request).store.batch(batch_id, app=None if app.admin else app.name)
    if not messages:
        raise Problem(404, "Not found", "no batch with that id")
    return web.json_response({"batch_id": batch_id, "messages": [message_view(m) for m in messages]})


async def get_message(request: web.Request) -> web.Response:
    """The message; while it waits for a route no modem can serve now, `waiting` says which and why."""
    sms = await _find(request)
    return web.json_response(message_view(sms, waiting_reason(sms, daemon_of(request).modem_states())))


async def message_events(request: web.Request) -> web.Response:
    """The message's history, oldest first: every move through the store's one gate, with its reason."""
    sms = await _find(request)
    events = await daemon_of(request).store.events(sms.id)
    return web.json_response({"id": sms.id, "status": sms.state.value, "events": [
        {"at": iso(e["at"]), "from": e["from_state"], "to": e["to_state"], "reason": e["reason"]} for e in events]})


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


def message_summary(sms: OutboundSms) -> dict:
    return {"id": sms.id, "status": sms.state.value, "to": sms.to, "parts": sms.parts}


def message_view(sms: OutboundSms, waiting: str | None = None) -> dict:
    """`route` always ({"modem": ...}, {"group": ...} or null: any modem); `waiting`: routing.waiting_reason."""
    view = {**message_summary(sms), "priority": PRIORITY_NAMES[sms.priority],
            "attempts": sms.attempts, "created_at": iso(sms.created_at), "route": route_view(sms.route)}
    optional = {"error": _error(sms), "modem": sms.modem, "sent_at": iso(sms.sent_at),
                "delivered_at": iso(sms.delivered_at), "expires_at": iso(sms.deadline),
                "possible_duplicate": sms.possible_duplicate or None, "batch_id": sms.batch_id, "waiting": waiting}
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
