"""What one webhook POST carries: the JSON body of an event and its stable event id (signing.py signs them).

Pure functions (no I/O), used by dispatcher.py's capture (render) and the dispatcher's index of webhooks (hook_key).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from ...config.loader import WebhookConfig
from ...domain.redact import mask_number
from ...store import HookSpec, SourceEvent


def hook_key(hook: WebhookConfig) -> str:
    """Stable across reloads while url, events and app stay the same (a new secret or timeout keeps pending rows);
    a webhook registered through /asg is also told apart by its id (an app may register one URL twice)."""
    material = hook.url + "\n" + ",".join(sorted(hook.events)) + (f"\n{hook.app}" if hook.app else "")
    if hook.hook_id is not None:
        material += f"\n{hook.payload}:{hook.hook_id}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def event_id(event: SourceEvent) -> str:
    """Stable and unique: a message reaches each of sent/delivered/failed/expired at most once (domain.sms.TRANSITIONS),
    and inbox ids are unique. Not derived from rowids, which an emptied log could hand out again."""
    return "evt_" + hashlib.sha256(f"{event.type}\n{event.subject}".encode()).hexdigest()[:32]


def render(event: SourceEvent, hook: HookSpec) -> tuple[str, str]:
    """The JSON body for one webhook. Outbound texts are never included (they are the sender's own, and an OTP's
    text is its code); inbound texts are."""
    eid = event_id(event)
    data = _received(event.row, hook) if event.type == "sms:received" else _outbound(event, hook)
    body = {"id": eid, "type": event.type, "created_at": iso(event.at), "data": data}
    return eid, json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _outbound(event: SourceEvent, hook: HookSpec) -> dict:
    row, status = event.row, event.type.removeprefix("sms:")
    data = {"message_id": event.subject, "kind": row.get("kind"), "to": _number(row.get("destination"), hook),
            "status": status, "parts": row.get("parts"), "modem": row.get("modem"),
            "created_at": iso(row.get("created_at")), "sent_at": iso(row.get("sent_at")),
            "possible_duplicate": bool(row.get("possible_duplicate"))}
    if row.get("batch_id"):           # one of several numbers a request named: GET /v1/batches/{batch_id}
        data["batch_id"] = row["batch_id"]
    if status == "delivered":
        data["delivered_at"] = iso(row.get("delivered_at") or event.at)
    if status == "failed":
        data["error"] = {"code": row.get("error_code"), "message": row.get("error_text")}
    return data


def _received(row: dict, hook: HookSpec) -> dict:
    return {"inbox_id": row["id"], "from": _number(row["sender"], hook), "text": row["text"], "parts": row["parts"],
            "complete": bool(row["complete"]), "modem": row["modem"], "received_at": iso(row["received_at"]),
            "sc_timestamp": iso(row["sc_timestamp"])}


def _number(number: str | None, hook: HookSpec) -> str | None:
    if number is None or hook.full_numbers:
        return number
    return mask_number(number)


def iso(ts: float | None) -> str | None:
    """A webhook's time: UTC, milliseconds, Z."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
