"""android-sms-gateway's shapes <-> modemd's: a send request (the app's PostMessageRequest) as a SendOrder, a batch
of messages as the app's MessageState. Checks only: the messages are queued by api/sending.py, as POST /v1/messages
queues them. No AT, no SQL here.

One ASG message is one modemd batch (one message per number) whose id is named_batch_id("asg", app, id): the
client's `id`, or one made here. So GET /asg/messages/{id} finds it again, two apps' ids never meet, and the
webhooks of its messages name it (services/webhooks/asg_payload.py).

States: a recipient's is its message's, in the app's words: queued -> Pending, sending -> Processed (handed to a
modem), sent -> Sent, delivered -> Delivered, and failed, expired and canceled -> Failed with the reason as `error`
(the app's clients know those five states only). The message's state is the app's rule over its recipients
(MessageWithRecipients.state): Pending while one is, then Processed while one is, Failed if all failed, Delivered if
all were delivered, else Sent.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from aiohttp import web

from ...domain.routing import MODEM, route_key
from ...domain.sms import OutboundSms, Priority, State, named_batch_id, new_batch_id
from ...services.webhooks.asg_payload import ASG, failure_reason
from ..limits import DEFAULT_PRIORITY, MAX_TTL, MIN_TTL
from ..recipients import recipients
from ..sending import SendOrder
from ..validation import APP, daemon_of, invalid, iso, only_fields, part_count, text_field, ttl_field

# The app's ids are nanoids ([A-Za-z0-9_-], 21) and its clients' often UUIDs: at most 36 characters (the app's
# OpenAPI maxLength), URL-safe as they are, since they come back in a path.
ASG_ID = re.compile(r"[A-Za-z0-9._~-]{1,36}")
PRIORITY_RANGE = (-128, 127)      # a Java byte
EXPEDITED = 100                   # the app's PRIORITY_EXPEDITED: "bypasses limits and delays"
ASG_STATES = ["Pending", "Processed", "Sent", "Delivered", "Failed"]
RECIPIENT_STATES = {State.QUEUED: "Pending", State.SENDING: "Processed", State.SENT: "Sent",
                    State.DELIVERED: "Delivered", State.FAILED: "Failed", State.EXPIRED: "Failed",
                    State.CANCELED: "Failed"}
SEND_FIELDS = {"id", "phoneNumbers", "textMessage", "message", "ttl", "validUntil", "priority", "withDeliveryReport",
               "simNumber", "isEncrypted", "deviceId", "dataMessage", "mmsMessage", "scheduleAt"}
# What modemd cannot do (yet), each refused by name: a client that asked for it learns so instead of being ignored.
UNSUPPORTED = {"dataMessage": "data SMS are not supported by modemd; send textMessage",
               "mmsMessage": "MMS are not supported by modemd; send textMessage",
               "scheduleAt": "scheduling is not supported by modemd; send when it is due"}


def send_order(request: web.Request, body: dict) -> tuple[str, SendOrder]:
    """The ASG message id and what the body asks for; a Problem (422: the layer answers 400) naming the field."""
    only_fields(body, SEND_FIELDS)
    body = {name: value for name, value in body.items() if value is not None}    # the app's clients send nulls
    _supported(request, body)
    asg_id = message_id(body.get("id"), "id") if "id" in body else new_batch_id()[4:]
    numbers = body.get("phoneNumbers")
    if not isinstance(numbers, list):
        raise invalid("phoneNumbers", "required, an array of phone numbers")
    numbers = recipients(daemon_of(request), numbers, "phoneNumbers")
    text, field = _text(body)
    app = request[APP].name
    # The id is the idempotency key too: of two requests racing with one id, the store queues one. Scoped to the
    # app, and not a key a client of POST /v1/messages can write (theirs are "<app>:<key>").
    return asg_id, SendOrder(numbers=numbers, text=text, parts=part_count(text, field), priority=_priority(body),
                             ttl=_ttl(body), batch_id=named_batch_id(ASG, app, asg_id),
                             idempotency_key=f"{app}/{ASG}/{asg_id}", recipients_field="phoneNumbers",
                             route=_sim_route(request, body))


def _sim_route(request: web.Request, body: dict) -> str | None:
    """simNumber picks a SIM, as on the app's phone: here the modem with that sim_number ([[modems]]; by default
    its place from 1), which alone then sends the message. Left out: the [[routes]] rules decide."""
    if "simNumber" not in body:
        return None
    number, sims = body["simNumber"], daemon_of(request).sim_numbers
    if isinstance(number, bool) or not isinstance(number, int) or number not in sims:
        known = ", ".join(str(n) for n in sorted(sims)) or "none"
        raise invalid("simNumber", f"{number!r} is no SIM of this server; its SIMs are {known}")
    return route_key(MODEM, sims[number])


def message_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not ASG_ID.fullmatch(value):
        raise invalid(field, "1 to 36 letters, digits, '.', '_', '~' or '-'")
    return value


def _supported(request: web.Request, body: dict) -> None:
    for name, reason in UNSUPPORTED.items():
        if name in body:
            raise invalid(name, reason)
    if body.get("isEncrypted", False) is not False:
        raise invalid("isEncrypted", "modemd does not decrypt; send the text and numbers as they are (over TLS)")
    for name in ("withDeliveryReport",):       # modemd asks for a delivery report whatever this says
        if not isinstance(body.get(name, True), bool):
            raise invalid(name, "true or false")
    if not isinstance(body.get("deviceId", ""), str):
        raise invalid("deviceId", "a string (modemd is the one device: it is not used)")


def _text(body: dict) -> tuple[str, str]:
    """The text and the field it came in: textMessage.text, or `message` (the app's deprecated form); not both."""
    if ("textMessage" in body) == ("message" in body):
        raise invalid("textMessage", "required: exactly one of textMessage or message")
    if "message" in body:
        return text_field(body["message"], "message"), "message"
    content = body["textMessage"]
    if not isinstance(content, dict) or set(content) - {"text"}:
        raise invalid("textMessage", 'an object {"text": "..."}')
    return text_field(content.get("text"), "textMessage.text"), "textMessage.text"


def _priority(body: dict) -> Priority:
    value = body.get("priority", 0)
    low, high = PRIORITY_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid("priority", f"an integer from {low} to {high}")
    return Priority.HIGH if value >= EXPEDITED else DEFAULT_PRIORITY


def _ttl(body: dict) -> int | None:
    """Seconds until the message expires unsent: `ttl`, or what is left until `validUntil`; not both."""
    if "ttl" in body and "validUntil" in body:
        raise invalid("validUntil", "fields conflict: ttl and validUntil; give one")
    if "validUntil" not in body:
        return ttl_field(body.get("ttl"))
    try:
        until = datetime.fromisoformat(str(body["validUntil"]).replace("Z", "+00:00"))
        left = until.timestamp() - time.time() if until.tzinfo else None
    except ValueError:
        left = None
    if left is None:
        raise invalid("validUntil", "a date and time with its offset (RFC 3339: 2030-01-01T08:30:00Z)")
    if not MIN_TTL <= left <= MAX_TTL:
        raise invalid("validUntil", f"from {MIN_TTL} s to {MAX_TTL // 86400} days ahead (message already expired?)")
    return int(left + 0.999)


# ---- the answer ------------------------------------------------------------------------------------------------
def message_state(asg_id: str, messages: list[OutboundSms]) -> dict:
    """The app's MessageState of an ASG message: its messages' states, in the order the request named them."""
    people = [_recipient(sms) for sms in messages]
    state = overall_state([p["state"] for p in people])
    devices = [sms.modem for sms in messages if sms.modem]
    view = {"id": asg_id, "state": state, "isHashed": False, "isEncrypted": False, "recipients": people,
            "states": _history(messages, state), "createdAt": iso(min(sms.created_at for sms in messages))}
    if devices:
        view["deviceId"] = devices[0]
    return view


def _recipient(sms: OutboundSms) -> dict:
    state = RECIPIENT_STATES[sms.state]
    view = {"phoneNumber": sms.to, "state": state}
    if state == "Failed":
        view["error"] = failure_reason(sms.state.value, sms.error_text or sms.error_code)
    return view


def overall_state(states: list[str]) -> str:
    """The app's rule (see the module's docstring)."""
    for state in ("Pending", "Processed"):
        if state in states:
            return state
    for state in ("Failed", "Delivered"):
        if all(s == state for s in states):
            return state
    return "Sent"


def _history(messages: list[OutboundSms], state: str) -> dict:
    """When the message reached each state it has reached, as far as its messages' times tell: created, first sent
    (handed over), last sent, last delivered, last changed (failed)."""
    sent = [sms.sent_at for sms in messages if sms.sent_at]
    history = {"Pending": min(sms.created_at for sms in messages)}
    if sent:
        history["Processed"] = min(sent)
    if sent and state in ("Sent", "Delivered"):
        history["Sent"] = max(sent)
    if state == "Delivered":
        history["Delivered"] = max(sms.delivered_at or sms.updated_at for sms in messages)
    if state == "Failed":
        history["Failed"] = max(sms.updated_at for sms in messages)
    return {name: iso(at) for name, at in history.items()}
