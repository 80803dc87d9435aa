"""SMS Gateway for Android's local-server API <-> modemd's records, as pure functions (no I/O): the body of a
`POST /messages`, a recipient's state out of a `GET /messages/{id}` answer, a webhook body as a PhoneEvent, and the
webhook signature check.

Shapes from capcom6/android-sms-gateway: PostMessageRequest (id, textMessage, phoneNumbers, withDeliveryReport,
ttl), MessageState (id, state, recipients[{phoneNumber, state, error}]), WebHookEventDTO (id, webhookId, event,
deviceId, payload) with the payloads of SmsEventPayload (messageId, phoneNumber/sender/recipient, partsCount,
sentAt, deliveredAt, failedAt + reason, receivedAt + message), and PayloadSingingPlugin: X-Signature is the hex
HMAC-SHA256 of the body's text followed by X-Timestamp (Unix seconds), keyed with the app's signing key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import datetime

# The app's ProcessingState names, as it sends them (a message's and each recipient's).
PENDING, PROCESSED, SENT, DELIVERED, FAILED = "Pending", "Processed", "Sent", "Delivered", "Failed"
# States after which the phone has handed the message to the network: the send is over for the outbox.
HANDED_OVER = frozenset({SENT, DELIVERED})
# TP-ST values (TS 23.040 9.2.3.15) for what the phone reports after a send: 0x00 "received by the SME";
# 0x40 "remote procedure error", the generic permanent failure, for an `sms:failed` after `sms:sent` (the app's
# reason text says more, but not in TP-ST terms).
TP_ST_DELIVERED = 0x00
TP_ST_FAILED = 0x40
# A signed webhook older or newer than this is refused: it is a replay (the app signs each attempt afresh, so a
# retried webhook carries a new timestamp) or the clocks disagree badly.
SIGNATURE_TOLERANCE = 300.0


class BadPhoneAnswer(ValueError):
    """The phone answered with a body this driver cannot read (not the app's shape)."""


def message_request(phone_id: str, to: str, text: str, *, validity: int | None, status_report: bool) -> dict:
    """The body of POST /messages for one SMS to one number. The phone splits a long text into parts itself.
    `validity` (seconds until the message's deadline, outbox.worker.network_validity) becomes `ttl`: the app drops
    a message still unsent when it runs out. At least 1: the app refuses a message that has already expired."""
    body: dict = {"id": phone_id, "textMessage": {"text": text}, "phoneNumbers": [to],
                  "withDeliveryReport": status_report}
    if validity is not None:
        body["ttl"] = max(1, validity)
    return body


@dataclass(frozen=True)
class RecipientState:
    state: str
    error: str | None


def recipient_state(body: object, to: str) -> RecipientState:
    """The state of the one recipient of a message modemd sent (GET /messages/{id}); the message's own state when
    the app lists no recipients (a hashed message)."""
    if not isinstance(body, dict) or not isinstance(body.get("state"), str):
        raise BadPhoneAnswer("a message state without `state`")
    for recipient in body.get("recipients") or []:
        if isinstance(recipient, dict) and _same_number(recipient.get("phoneNumber"), to):
            return RecipientState(str(recipient.get("state", body["state"])), recipient.get("error"))
    return RecipientState(body["state"], None)


def _same_number(a: object, b: str) -> bool:
    digits = lambda n: "".join(ch for ch in str(n) if ch.isdigit())     # noqa: E731 -- "+49 151..." == "49151..."
    return isinstance(a, str) and digits(a)[-9:] == digits(b)[-9:]


@dataclass(frozen=True)
class PhoneEvent:
    """One webhook from the phone: `event` is the app's name (sms:sent, sms:received, system:ping, ...)."""
    id: str
    event: str
    message_id: str           # the phone's message id (sms:* events), "" for app:started and system:ping
    number: str               # the recipient (sent/delivered/failed) or the sender (received)
    text: str                 # sms:received: the message
    reason: str               # sms:failed: the error text (RESULT_ERROR_...)
    parts: int                # sms:sent: partsCount
    at: float | None          # sentAt / deliveredAt / failedAt / receivedAt


def parse_event(body: object) -> PhoneEvent:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("event"), str):
        raise BadPhoneAnswer("a webhook without `id` and `event`")
    payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
    event = body["event"]
    number = payload.get("sender") if event == "sms:received" else payload.get("recipient")
    stamp = next((payload[k] for k in ("sentAt", "deliveredAt", "failedAt", "receivedAt") if k in payload), None)
    return PhoneEvent(id=body["id"], event=event, message_id=str(payload.get("messageId") or ""),
                      number=str(number or payload.get("phoneNumber") or ""), text=str(payload.get("message") or ""),
                      reason=str(payload.get("reason") or ""), parts=_int(payload.get("partsCount"), 1),
                      at=iso_time(stamp))


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def iso_time(value: object) -> float | None:
    """The app's dates (Gson, ISO 8601 with an offset or Z) as Unix seconds; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo else None


_DELIVERY_RESULT = re.compile(r"Delivery result from SC [^:]*: (\d+)\Z")


def delivery_status(reason: str) -> int:
    """The TP-ST of a delivery report the app turned into a failure ("Delivery result from SC +49...: 64",
    MessagesService), else the generic permanent error: what a sms:failed after sms:sent reports."""
    match = _DELIVERY_RESULT.search(reason.strip())
    return int(match.group(1)) if match and int(match.group(1)) < 256 else TP_ST_FAILED


def sign(key: str, body: bytes, timestamp: str) -> str:
    """PayloadSingingPlugin.generateSignature: hex HMAC-SHA256 of the body's text + the timestamp."""
    return hmac.new(key.encode("utf-8"), body + timestamp.encode("ascii"), hashlib.sha256).hexdigest()


def signature_ok(key: str, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None,
                 tolerance: float = SIGNATURE_TOLERANCE) -> bool:
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(key, body, timestamp), signature.lower())


def health_concerns(health: object) -> str:
    """What /health says is wrong, for the journal: its checks that are not "pass" (battery:level, connection:status,
    messages:failed, ...) with their observed values, "" when all pass. Health is the app's view (battery, internet,
    failed sends), not whether the phone can send: a phone that answers is ready whatever these say."""
    checks = health.get("checks") if isinstance(health, dict) else None
    if not isinstance(checks, dict):
        return ""
    concerns = [f"{name} {check.get('observedValue')} {check.get('observedUnit', '')}".rstrip()
                + f" ({check.get('status')})"
                for name, check in sorted(checks.items())
                if isinstance(check, dict) and check.get("status") not in ("pass", None)]
    return ", ".join(concerns)
