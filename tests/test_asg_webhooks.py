"""Webhooks registered through /asg, below the API: which registrations the config backs (services/webhooks/
registered.py), the app's body for every event (asg_payload.py), and a dispatcher on a real store that reads them
from the store and delivers them signed the app's way, also a registration made after it started."""

from __future__ import annotations

import json
import time

import pytest

from kit import Receiver, open_store, outbound, record_store, until
from modemd.config.loader import AppConfig
from modemd.domain.sms import named_batch_id
from modemd.services.webhooks import WebhookDispatcher
from modemd.services.webhooks.asg_payload import render_asg
from modemd.services.webhooks.registered import registered_hooks
from modemd.store import HookSpec, RegisteredHook, SourceEvent

KEY = b"asg-signing-key-0123456789"
SHOP = AppConfig("shop", tokens=("shop-token-0123456789",), asg_signing_key=KEY)
NOW = 1746100803.0


def hook(event: str, app: str = "shop", hook_id: str = "h1") -> RegisteredHook:
    return RegisteredHook(app, hook_id, "https://x.example/h", event, NOW)


def test_only_registrations_the_config_backs_are_delivered():
    reader = AppConfig("reader", tokens=("reader-token-0123456789",), scopes=frozenset({"send", "inbox"}),
                       asg_signing_key=KEY)
    keyless = AppConfig("keyless", tokens=("keyless-token-0123456789",))
    found = registered_hooks([hook("sms:sent"), hook("sms:received"), hook("sms:failed", "reader"),
                              hook("sms:received", "reader", "h2"), hook("sms:sent", "keyless"),
                              hook("sms:sent", "gone")], [SHOP, reader, keyless])
    assert [(h.app, h.hook_id) for h in found] == [("shop", "h1"), ("reader", "h1"), ("reader", "h2")]
    sent, failed, received = found
    assert sent.secret == KEY and sent.signatures == ("asg",) and sent.payload == "asg" and sent.full_numbers
    assert failed.events == {"sms:failed", "sms:expired"} and received.events == {"sms:received"}


def message_event(kind: str, **row) -> SourceEvent:
    base = {"id": "msg_1", "destination": "+4915112345678", "parts": 2, "modem": "sim0", "sent_at": NOW,
            "batch_id": named_batch_id("asg", "shop", "order-42"), "state": kind.removeprefix("sms:")}
    return SourceEvent(kind, "m1", "msg_1", NOW + 5, {**base, **row})


@pytest.mark.parametrize("event, kind, payload", [
    (message_event("sms:sent"), "sms:sent", {"partsCount": 2, "sentAt": "2025-05-01T12:00:03.000Z"}),
    (message_event("sms:delivered", delivered_at=NOW + 9), "sms:delivered",
     {"deliveredAt": "2025-05-01T12:00:12.000Z"}),
    (message_event("sms:failed", error_text="CMS ERROR 38"), "sms:failed",
     {"failedAt": "2025-05-01T12:00:08.000Z", "reason": "CMS ERROR 38"}),
    (message_event("sms:expired"), "sms:failed", {"failedAt": "2025-05-01T12:00:08.000Z", "reason": "TTL expired"}),
])
def test_a_message_event_has_the_apps_body(event, kind, payload):
    event_id, body = render_asg(event, HookSpec("k", frozenset({event.type}), hook_id="h1", payload="asg"))
    sent = json.loads(body)
    assert sent == {"id": event_id, "webhookId": "h1", "event": kind, "deviceId": "sim0", "payload": {
        "messageId": "order-42", "phoneNumber": "+4915112345678", "recipient": "+4915112345678", **payload}}


def test_a_received_sms_and_a_message_sent_natively_have_the_apps_body_too():
    row = {"id": "in_1", "sender": "+447700900123", "text": "hi", "received_at": NOW, "modem": "sim1"}
    _, body = render_asg(SourceEvent("sms:received", "i1", "in_1", NOW, row), HookSpec("k", frozenset(), hook_id="h"))
    assert json.loads(body)["payload"] == {"messageId": "in_1", "phoneNumber": "+447700900123",
                                           "sender": "+447700900123", "message": "hi",
                                           "receivedAt": "2025-05-01T12:00:03.000Z"}
    _, body = render_asg(message_event("sms:sent", batch_id=None, modem=None), HookSpec("k", frozenset()))
    assert json.loads(body)["payload"]["messageId"] == "msg_1" and json.loads(body)["deviceId"] == "modemd"


async def test_the_dispatcher_delivers_a_registration_made_while_it_runs(tmp_path):
    async with open_store(tmp_path / "modemd.db") as store:
        wstore = record_store(store, "webhooks")(store)

        async def registered():
            return registered_hooks(await wstore.registered(), [SHOP])
        with Receiver(secret=KEY) as receiver:
            dispatcher = WebhookDispatcher(wstore, [], registered=registered, poll_interval=0.05)
            await dispatcher.start()
            try:
                assert await wstore.register(RegisteredHook("shop", "h1", receiver.url, "sms:sent", time.time()),
                                             most=1)
                sms = outbound(app="shop", batch_id=named_batch_id("asg", "shop", "order-7"))
                await store.enqueue(sms)
                await store.claim_next("sim0")
                await store.mark_sent(sms.id, [1], purge_text=False)
                dispatcher.wake()
                await until(lambda: receiver.requests, timeout=10)
            finally:
                await dispatcher.stop()
    [request] = receiver.requests
    assert request["valid"] and request["status"] == 204 and "X-Modemd-Signature" not in request["headers"]
    assert request["event"]["event"] == "sms:sent" and request["event"]["payload"]["messageId"] == "order-7"
