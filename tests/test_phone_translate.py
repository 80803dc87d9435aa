"""SMS Gateway for Android's JSON <-> modemd's records (modem/phone/translate.py), with bodies shaped as the app
writes them (capcom6/android-sms-gateway: PostMessageRequest, MessageState, WebHookEventDTO + SmsEventPayload,
PayloadSingingPlugin)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from modemd.modem.phone.translate import (BadPhoneAnswer, delivery_status, health_concerns, iso_time, message_request, parse_event, recipient_state,
                                          sign, signature_ok)


def test_one_post_per_message_with_ttl_from_the_deadline_and_the_report_as_asked():
    assert message_request("modemd-a1", "+4915112345678", "Your code is 123456", validity=287,
                           status_report=True) == {
        "id": "modemd-a1", "textMessage": {"text": "Your code is 123456"}, "phoneNumbers": ["+4915112345678"],
        "withDeliveryReport": True, "ttl": 287}
    body = message_request("modemd-a2", "+4915112345678", "x" * 400, validity=None, status_report=False)
    assert "ttl" not in body and body["withDeliveryReport"] is False and body["textMessage"]["text"] == "x" * 400
    # The app refuses a message that has already expired (validUntil before now): never ttl 0.
    assert message_request("i", "+4915112345678", "t", validity=0, status_report=True)["ttl"] == 1


def test_the_recipient_state_and_its_error():
    body = {"id": "m1", "state": "Failed", "isHashed": False, "isEncrypted": False,
            "recipients": [{"phoneNumber": "+4915112345678", "state": "Failed",
                            "error": "RESULT_ERROR_NO_SERVICE (Failed because service is currently unavailable)"}],
            "states": {"Pending": "2026-12-02T03:00:00.000+00:00"}}
    state = recipient_state(body, "+4915112345678")
    assert state.state == "Failed" and state.error.startswith("RESULT_ERROR_NO_SERVICE")
    assert recipient_state({"id": "m1", "state": "Sent", "recipients": []}, "+491").state == "Sent"
    with pytest.raises(BadPhoneAnswer):
        recipient_state({"id": "m1"}, "+491")


def test_webhooks_become_phone_events():
    sent = parse_event({"id": "ev1", "webhookId": "modemd-phone0-sms-sent", "event": "sms:sent", "deviceId": "d",
                        "payload": {"messageId": "modemd-a1", "recipient": "+4915112345678", "phoneNumber":
                                    "+4915112345678", "simNumber": 1, "partsCount": 3,
                                    "sentAt": "2026-12-02T03:00:01.000+00:00"}})
    assert (sent.event, sent.message_id, sent.number, sent.parts) == ("sms:sent", "modemd-a1", "+4915112345678", 3)
    assert sent.at == iso_time("2026-12-02T03:00:01Z")
    received = parse_event({"id": "ev2", "webhookId": "w", "event": "sms:received", "deviceId": "d",
                            "payload": {"messageId": "abc", "sender": "+4917000000", "message": "hello",
                                        "receivedAt": "2026-12-02T03:00:02.000+01:00", "simNumber": 1,
                                        "phoneNumber": "+4917000000"}})
    assert (received.number, received.text, received.at) == ("+4917000000", "hello", 1796176802.0)
    failed = parse_event({"id": "ev3", "event": "sms:failed", "payload": {"messageId": "m", "recipient": "+491",
                                                                          "reason": "RESULT_ERROR_RADIO_OFF (x)"}})
    assert failed.reason == "RESULT_ERROR_RADIO_OFF (x)" and failed.parts == 1
    assert parse_event({"id": "ev4", "event": "system:ping", "payload": {}}).message_id == ""
    with pytest.raises(BadPhoneAnswer):
        parse_event({"event": "sms:sent"})


def test_the_signature_is_the_apps():
    body, stamp, key = b'{"id":"ev1"}', "1796176800", "k3y"
    expected = hmac.new(b"k3y", body + stamp.encode(), hashlib.sha256).hexdigest()
    assert sign(key, body, stamp) == expected
    assert signature_ok(key, body, stamp, expected, now=1796176810)
    assert signature_ok(key, body, stamp, expected.upper(), now=1796176810)
    assert not signature_ok("other", body, stamp, expected, now=1796176810)
    assert not signature_ok(key, body + b" ", stamp, expected, now=1796176810)
    assert not signature_ok(key, body, stamp, expected, now=1796176800 + 301)      # a replay, or a wrong clock
    assert not signature_ok(key, body, None, expected) and not signature_ok(key, body, stamp, None)


def test_what_health_says_is_wrong():
    health = {"status": "warn", "version": "1.40.0", "releaseId": 140, "checks": {
        "battery:level": {"status": "warn", "observedValue": 15, "observedUnit": "percent", "description": "x"},
        "battery:charging": {"status": "pass", "observedValue": 0, "observedUnit": "boolean", "description": "x"},
        "messages:failed": {"status": "fail", "observedValue": 12, "observedUnit": "messages", "description": "x"}}}
    assert health_concerns(health) == "battery:level 15 percent (warn), messages:failed 12 messages (fail)"
    assert health_concerns({"status": "pass", "checks": {}}) == "" and health_concerns(None) == ""


def test_a_failed_delivery_keeps_its_tp_st():
    assert delivery_status("Delivery result from SC +491770610000: 64") == 64
    assert delivery_status("Delivery result from SC null: 69") == 69
    assert delivery_status("Delivery result: 2") == 0x40 and delivery_status("") == 0x40
