"""The simulated SMS Gateway for Android phone (modemd/simulator/asg_phone/) checked against the app's official
Python client, android_sms_gateway, unchanged but for its base URL and credentials; webhooks reach a real aiohttp
receiver on loopback and are checked with the signature code docs/webhooks.md gives receivers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from android_sms_gateway import client, domain
from android_sms_gateway.enums import ProcessState, WebhookEvent

from tests.kit.asg_phone import PASSWORD, SIGNING_KEY, USER, HookReceiver, PhoneThread
from tests.kit.wait import wait_for
from tests.kit.webhooks import verify_asg_signature

A, B = "+4915111111111", "+4915122222222"
LONG = "Your code is 482913. " + "This text is long enough to need two parts. " * 4      # > 160 GSM septets


@pytest.fixture
def phone(tmp_path):
    p = PhoneThread(tmp_path)
    yield p
    p.close()


@pytest.fixture
def receiver(phone):
    r = HookReceiver(phone.loop)
    yield r
    r.close()


@pytest.fixture
def api(phone):
    with client.APIClient(USER, PASSWORD, base_url=phone.url) as c:
        yield c


def send(api, *numbers, text="Your code is 482913", **options) -> domain.MessageState:
    return api.send(domain.Message(phone_numbers=list(numbers), text_message=domain.TextMessage(text=text),
                                   **options))


def settled(api, message_id: str, *states: ProcessState) -> domain.MessageState:
    """Poll GET /messages/{id} (through the client) until the message is in one of `states`."""
    return wait_for(lambda: (s := api.get_state(message_id)).state in states and s)


def signed(request: dict) -> bool:
    """X-Signature = hex HMAC-SHA256(key, body + X-Timestamp), as the app's PayloadSingingPlugin computes it."""
    stamp = request["headers"]["X-Timestamp"]
    expected = hmac.new(SIGNING_KEY.encode(), request["body"] + stamp.encode(), hashlib.sha256).hexdigest()
    return expected == request["headers"]["X-Signature"] and verify_asg_signature(
        SIGNING_KEY.encode(), request["body"], request["headers"])


def test_client_sends_to_two_numbers_and_reads_the_states(phone, api):
    accepted = send(api, A, B, text=LONG)
    assert accepted.state == ProcessState.Pending
    assert [r.phone_number for r in accepted.recipients] == [A, B]
    done = settled(api, accepted.id, ProcessState.Delivered)
    assert [(r.state, r.error) for r in done.recipients] == [(ProcessState.Delivered, None)] * 2
    assert {"Pending", "Processed", "Sent", "Delivered"} <= set(done.states)
    records = phone.handset()
    assert [(m["to"], m["parts"], m["text"], m["encoding"]) for m in records] == [
        (A, 2, LONG, "gsm7"), (B, 2, LONG, "gsm7")]
    assert all(m["status_report_requested"] and m["wire_monotonic"] for m in records)


def test_without_delivery_report_the_message_stays_sent(phone, api):
    accepted = send(api, A, with_delivery_report=False)
    done = settled(api, accepted.id, ProcessState.Sent)
    assert phone.handset()[0]["status_report_requested"] is False
    assert done.recipients[0].state == ProcessState.Sent


def test_webhooks_are_signed_and_come_per_part(phone, api, receiver):
    for event in (WebhookEvent.SMS_SENT, WebhookEvent.SMS_DELIVERED):
        created = api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=event))
        assert created.id and created.event == event
    assert {w.event for w in api.get_webhooks()} == {WebhookEvent.SMS_SENT, WebhookEvent.SMS_DELIVERED}
    accepted = send(api, A, text=LONG)
    wait_for(lambda: len(receiver.events("sms:delivered", accepted.id)) == 2)   # one per part, as the app
    sent = receiver.events("sms:sent", accepted.id)
    assert len(sent) == 2 and sent[0]["json"]["payload"]["partsCount"] == 2
    assert all(signed(r) for r in receiver.requests)
    envelope = receiver.events("sms:delivered", accepted.id)[0]["json"]
    assert envelope["deviceId"] and envelope["webhookId"] and envelope["id"]
    assert envelope["payload"]["recipient"] == envelope["payload"]["phoneNumber"] == A
    assert "deliveredAt" in envelope["payload"]


def test_a_tampered_body_would_not_verify(phone, api, receiver):
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.SMS_SENT))
    send(api, A)
    request = wait_for(lambda: receiver.events("sms:sent") and receiver.events("sms:sent")[0])
    assert signed(request)
    assert not signed({**request, "body": request["body"].replace(b"sms:sent", b"sms:sent ")})


@pytest.mark.parametrize("cause, text", [
    ("generic_failure", "RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)"),
    ("radio_off", "RESULT_ERROR_RADIO_OFF (Failed because radio was explicitly turned off)"),
    ("no_service", "RESULT_ERROR_NO_SERVICE (Failed because service is currently unavailable)"),
    ("limit_exceeded", "RESULT_ERROR_LIMIT_EXCEEDED (Failed because we reached the sending queue limit)"),
])
def test_a_send_failure_fails_that_recipient_with_the_cause(phone, api, receiver, cause, text):
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.SMS_FAILED))
    phone.control.fault("send_errors", [cause])
    accepted = send(api, A, B)
    done = settled(api, accepted.id, ProcessState.Sent, ProcessState.Delivered)
    assert (done.recipients[0].state, done.recipients[0].error) == (ProcessState.Failed, "Send result: " + text)
    assert done.recipients[1].state == ProcessState.Delivered
    assert done.state == ProcessState.Sent              # the app's rule: neither all failed nor all delivered
    failed = wait_for(lambda: receiver.events("sms:failed", accepted.id))
    assert failed[0]["json"]["payload"]["reason"] == "Send result: " + text
    assert [m["to"] for m in phone.handset()] == [B]


def test_no_service_fails_every_send_until_cleared(phone, api):
    phone.control.fault("no_service", True)
    failed = settled(api, send(api, A, B).id, ProcessState.Failed)
    assert all("RESULT_ERROR_NO_SERVICE" in r.error for r in failed.recipients)
    status, report = raw(phone, "GET", "/health", auth=False)   # all failed, none sent: the app answers 500
    assert (status, report["status"]) == (500, "fail")
    assert report["checks"]["connection:cellular"]["observedValue"] == 0
    assert report["checks"]["messages:failed"]["observedValue"] == 2
    phone.control.fault("no_service", False)
    settled(api, send(api, A).id, ProcessState.Delivered)
    assert [m["to"] for m in phone.handset()] == [A]


@pytest.mark.parametrize("outcome, state, error", [
    ("failed", ProcessState.Failed, "Delivery result from SC +491770610000: 64"),
    ("withheld", ProcessState.Sent, None),
])
def test_delivery_reports_failed_or_withheld(phone, api, receiver, outcome, state, error):
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.SMS_SENT))
    phone.control.fault("delivery", outcome)
    accepted = send(api, A)
    wait_for(lambda: receiver.events("sms:sent", accepted.id))
    done = settled(api, accepted.id, state)
    assert (done.recipients[0].state, done.recipients[0].error) == (state, error)


def test_a_dropped_webhook_is_seen_only_by_polling(phone, api, receiver):
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.SMS_SENT))
    phone.control.fault("drop_webhooks", 1)
    lost = send(api, A, with_delivery_report=False)
    assert settled(api, lost.id, ProcessState.Sent).recipients[0].state == ProcessState.Sent
    seen = send(api, B, with_delivery_report=False)
    wait_for(lambda: receiver.events("sms:sent", seen.id))        # later events still arrive...
    assert receiver.events("sms:sent", lost.id) == []            # ...the lost one never does
    assert phone.control.state()["webhooks_dropped"] == 1


def test_a_failing_receiver_gets_the_same_event_again(phone, api, receiver):
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.SMS_SENT))
    receiver.fail_next = 2
    accepted = send(api, A, with_delivery_report=False)
    attempts = wait_for(lambda: len(receiver.events("sms:sent", accepted.id)) == 3
                        and receiver.events("sms:sent", accepted.id))
    assert len({r["json"]["id"] for r in attempts}) == 1         # one event, retried
    assert all(signed(r) for r in attempts)


def test_a_restart_keeps_states_and_sends_app_started(phone, api, receiver):
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.APP_STARTED))
    done = settled(api, send(api, A).id, ProcessState.Delivered)
    phone.control.fault("send_delay", 0.3)
    in_flight = send(api, B)
    wait_for(lambda: api.get_state(in_flight.id).state == ProcessState.Processed)
    phone.control.request("kill")
    with pytest.raises(Exception):                                # the server is gone: connection refused
        api.get_state(done.id)
    phone.control.request("restart")
    assert api.get_state(done.id).state == ProcessState.Delivered
    assert settled(api, in_flight.id, ProcessState.Delivered).recipients[0].state == ProcessState.Delivered
    started = wait_for(lambda: receiver.events("app:started"))
    assert started[0]["json"]["payload"]["simCards"] and signed(started[0])


def test_a_kill_with_seconds_comes_back_by_itself(phone, api, receiver):
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.APP_STARTED))
    phone.control.request("kill", seconds=0.2)
    wait_for(lambda: receiver.events("app:started"))
    assert api.health_check().status.value == "pass"


def test_an_injected_sms_reaches_every_sms_received_webhook(phone, api, receiver):
    for path in ("one", "two"):
        api.create_webhook(domain.Webhook(id=None, url=receiver.url(path), event=WebhookEvent.SMS_RECEIVED))
    phone.control.request("inject_sms", sender="+4917612345678", text="STOP")
    received = wait_for(lambda: len(receiver.events("sms:received")) == 2 and receiver.events("sms:received"))
    assert {r["path"] for r in received} == {"/one", "/two"}
    payload = received[0]["json"]["payload"]
    assert (payload["sender"], payload["phoneNumber"], payload["message"]) == ("+4917612345678",) * 2 + ("STOP",)
    assert all(signed(r) for r in received)


@pytest.mark.parametrize("lifetime", [
    lambda: {"ttl": 1},
    lambda: {"valid_until": datetime.now(timezone.utc) + timedelta(seconds=1)},
], ids=["ttl", "validUntil"])
def test_a_message_past_its_ttl_fails(phone, api, lifetime):
    phone.control.fault("send_delay", 1.5)
    first = send(api, A)                                          # holds the phone's one sending queue
    late = send(api, B, **lifetime())
    expired = settled(api, late.id, ProcessState.Failed)
    assert expired.recipients[0].error == "TTL expired"
    settled(api, first.id, ProcessState.Delivered)
    assert [m["to"] for m in phone.handset()] == [A]


def test_webhooks_can_be_deleted(phone, api, receiver):
    hook = api.create_webhook(domain.Webhook(id="mine", url=receiver.url(), event=WebhookEvent.SMS_SENT))
    assert hook.id == "mine"
    api.delete_webhook("mine")
    assert api.get_webhooks() == []


# ---- the app's errors, as raw HTTP -----------------------------------------------------------------------------
def raw(phone, method: str, path: str, body=None, auth=True) -> tuple[int, dict | None]:
    request = urllib.request.Request(phone.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.mark.parametrize("body, message", [
    ({"phoneNumbers": [], "textMessage": {"text": "x"}}, "Empty phone numbers list"),
    ({"phoneNumbers": [A]}, "Must specify exactly one of: textMessage, dataMessage, or message"),
    ({"phoneNumbers": [A], "textMessage": {"text": "x"}, "ttl": 5, "validUntil": "2100-01-01T00:00:00Z"},
     "fields conflict: ttl and validUntil"),
    ({"phoneNumbers": [A], "message": "x", "validUntil": "2000-01-01T00:00:00Z"}, "message already expired"),
])
def test_bad_requests_get_the_apps_400(phone, body, message):
    assert raw(phone, "POST", "/messages", body) == (400, {"message": message})


def test_a_data_message_is_refused_by_name(phone):
    body = {"phoneNumbers": [A], "dataMessage": {"data": "AQI=", "port": 53739}}
    assert raw(phone, "POST", "/messages", body) == (400, {"message": "dataMessage is not simulated; send textMessage"})


def test_the_apps_other_answers(phone):
    assert raw(phone, "GET", "/messages/x", auth=False) == (401, None)
    assert raw(phone, "GET", "/messages/nope") == (404, None)
    assert raw(phone, "GET", "/health", auth=False)[0] == 200
    body = {"id": "same", "phoneNumbers": [A], "message": "hi"}
    status, view = raw(phone, "POST", "/message", body)          # the singular spelling is mounted too
    assert status == 202 and view["id"] == "same" and view["state"] == "Pending"
    assert raw(phone, "POST", "/messages", body)[0] == 409
    assert raw(phone, "POST", "/webhooks", {"url": "http://example.com/x", "event": "sms:sent"}) == (
        400, {"message": "url must start with https:// or http://127.0.0.1"})
    assert raw(phone, "POST", "/webhooks", {"url": "https://example.com/x", "event": "nope"}) == (
        400, {"message": "Unsupported event"})


def test_system_ping_carries_the_health(phone, api, receiver):
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.SYSTEM_PING))
    assert phone.control.request("system_ping") == {"webhooks": 1}
    ping = wait_for(lambda: receiver.events("system:ping"))[0]
    assert ping["json"]["payload"]["health"]["status"] == "pass" and signed(ping)
    assert "battery:level" in ping["json"]["payload"]["health"]["checks"]


def test_unknown_faults_and_causes_are_refused(phone):
    from modemd.simulator import ControlError
    with pytest.raises(ControlError, match="unknown send result"):
        phone.control.fault("send_errors", ["bogus"])
    with pytest.raises(ControlError, match="unknown fault"):
        phone.control.fault("no_answer", True)


def test_settings_change_the_signing_key_and_the_ping(phone, api, receiver):
    """PATCH /settings through the official client: the next webhook is signed with the new key, pings start."""
    api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=WebhookEvent.SYSTEM_PING))
    api.patch_settings(domain.DeviceSettings(webhooks=domain.SettingsWebhooks(signing_key="n3w-k3y",
                                                                              internet_required=False),
                                             ping=domain.SettingsPing(interval_seconds=1)))
    assert raw(phone, "GET", "/settings")[1]["webhooks"]["signing_key"] == "n3w-k3y"
    ping = wait_for(lambda: receiver.events("system:ping"))[0]        # from the interval: no control request
    stamp = ping["headers"]["X-Timestamp"]
    assert ping["headers"]["X-Signature"] == hmac.new(b"n3w-k3y", ping["body"] + stamp.encode(),
                                                      hashlib.sha256).hexdigest()
    assert raw(phone, "PATCH", "/settings", {"gateway": {"cloud_url": "x"}}) == (
        400, {"message": "Invalid request: gateway is not a setting the simulated phone changes"})
    assert raw(phone, "PATCH", "/settings", {"ping": {"interval_seconds": 0}})[0] == 400
