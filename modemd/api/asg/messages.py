"""POST /asg/message(s): an ASG message queued as one modemd batch, through the same path POST /v1/messages takes
(api/sending.py: the same checks, limits and store); GET /asg/message(s)/{id}: its state per recipient. The shapes
and the state mapping are shapes.py's.

The client's `id` names one message, as in the app: a second POST with an id the app has used answers 409 and
queues nothing, whatever its body (the app's ConflictException). Two POSTs racing with one id are told apart by the
store: the id is also the first message's idempotency key (shapes.py), which the store lets one of them have.
"""

from __future__ import annotations

from aiohttp import web

from ...domain.sms import named_batch_id
from ...services.webhooks.asg_payload import ASG
from ...store import IdempotencyMismatch
from ..sending import queue_send
from ..validation import APP, daemon_of, json_object
from .errors import AsgError
from .openapi import PREFIX
from .shapes import ASG_ID, message_state, send_order

CONFLICT = "Message with the same ID already exists"      # the app's words


async def send_message(request: web.Request) -> web.Response:
    asg_id, order = send_order(request, await json_object(request))
    app = request[APP].name
    if await daemon_of(request).store.batch(order.batch_id, app=app):
        raise AsgError(409, CONFLICT)
    try:
        result = await queue_send(request, order)
    except IdempotencyMismatch:
        raise AsgError(409, CONFLICT) from None
    if not result.created:
        raise AsgError(409, CONFLICT)
    return web.json_response(message_state(asg_id, result.messages), status=202,
                             headers={"Location": f"{PREFIX}/messages/{asg_id}"})


async def get_message(request: web.Request) -> web.Response:
    """One of this app's ASG messages; another app's id answers as an unknown one."""
    asg_id = request.match_info["id"]
    app = request[APP].name
    messages = []
    if ASG_ID.fullmatch(asg_id):
        messages = await daemon_of(request).store.batch(named_batch_id(ASG, app, asg_id), app=app)
    if not messages:
        raise AsgError(404, f"Message with id {asg_id} not found")
    return web.json_response(message_state(asg_id, messages))
