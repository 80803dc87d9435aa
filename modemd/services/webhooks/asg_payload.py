"""The body of a POST to a webhook registered through /asg: android-sms-gateway's shape, so a receiver written for
that app reads it unchanged. Pure (no I/O); the dispatcher renders
with render_asg() what such a hook gets.

The app's envelope is {id, webhookId, event, deviceId, payload} (its WebHookEventDTO), and each event's payload
carries the fields of its SmsEventPayload: messageId, phoneNumber (and recipient or sender), then sentAt and
partsCount, deliveredAt, failedAt and reason, or message and receivedAt. Like the app (Gson), fields without a value
are left out. Numbers are in full: the app's receivers need them. What modemd has no counterpart for:
- deviceId: the modem that sent or received the SMS (modemd's device), or "modemd" while none did;
- messageId of a sent SMS: the message's /asg id when it was sent through /asg, otherwise its batch id or its own;
- sms:expired: the app has no such event; it reports a message whose TTL ran out as failed, and so does this.
"""

from __future__ import annotations

import json

from ...domain.sms import batch_name
from ...store import HookSpec, SourceEvent
from .payload import event_id, iso

ASG = "asg"                    # the prefix of batches queued through /asg (domain.sms.named_batch_id)
NO_DEVICE = "modemd"
# A registered webhook's event (the app's name) -> the modemd events that feed it.
ASG_EVENTS = {"sms:received": frozenset({"sms:received"}), "sms:sent": frozenset({"sms:sent"}),
              "sms:delivered": frozenset({"sms:delivered"}),
              "sms:failed": frozenset({"sms:failed", "sms:expired"})}


def render_asg(event: SourceEvent, hook: HookSpec) -> tuple[str, str]:
    """The event id and JSON body of `event` for the registered webhook `hook` (payload.render's counterpart)."""
    row = event.row
    if event.type == "sms:received":
        kind, device, payload = event.type, row["modem"], _received(event)
    else:
        kind, device, payload = _outbound_kind(event.type), row.get("modem"), _outbound(event)
    eid = event_id(event)
    body = {"id": eid, "webhookId": hook.hook_id, "event": kind, "deviceId": device or NO_DEVICE,
            "payload": {k: v for k, v in payload.items() if v is not None}}
    return eid, json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _outbound_kind(event_type: str) -> str:
    return "sms:failed" if event_type == "sms:expired" else event_type


def _outbound(event: SourceEvent) -> dict:
    row = event.row
    number = row.get("destination")
    payload = {"messageId": _message_id(event), "phoneNumber": number, "recipient": number}
    if event.type == "sms:sent":
        payload |= {"partsCount": row.get("parts"), "sentAt": iso(row.get("sent_at") or event.at)}
    elif event.type == "sms:delivered":
        payload["deliveredAt"] = iso(row.get("delivered_at") or event.at)
    else:
        state = "expired" if event.type == "sms:expired" else row.get("state")
        reason = failure_reason(state, row.get("error_text") or row.get("error_code"))
        payload |= {"failedAt": iso(event.at), "reason": reason}
    return payload


def failure_reason(state: str | None, error: str | None) -> str:
    """Why a message in `state` failed, in words: that its TTL ran out (the app's own words), that it was canceled,
    or its error."""
    if state == "expired":
        return "TTL expired"
    if state == "canceled":
        return "canceled"
    return error or "failed"


def _message_id(event: SourceEvent) -> str:
    """What the app's clients know the message by (see the module's docstring)."""
    batch = event.row.get("batch_id")
    return batch_name(batch, ASG) or batch or event.subject


def _received(event: SourceEvent) -> dict:
    row = event.row
    return {"messageId": row["id"], "phoneNumber": row["sender"], "sender": row["sender"], "message": row["text"],
            "receivedAt": iso(row["received_at"])}
