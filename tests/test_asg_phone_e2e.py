"""`modemd simulate --device asg-phone` as its own process, driven by the official android_sms_gateway client and
the control socket: two numbers sent to and delivered, signed webhooks, a send failure, the app killed and back."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from android_sms_gateway import client, domain
from android_sms_gateway.enums import ProcessState, WebhookEvent

from tests.kit.asg_phone import PASSWORD, SIGNING_KEY, USER, HookReceiver, LoopThread, PhoneProcess
from tests.kit.wait import wait_for

A, B = "+4915111111111", "+4915122222222"


@pytest.fixture
def phone(tmp_path):
    p = PhoneProcess(tmp_path)
    yield p
    p.close()


@pytest.fixture
def receiver():
    loop = LoopThread()
    r = HookReceiver(loop)
    yield r
    r.close()
    loop.close()


def state_of(api, message_id: str, *states: ProcessState) -> domain.MessageState:
    return wait_for(lambda: (s := api.get_state(message_id)).state in states and s)


def test_the_simulated_phone_as_a_process(phone, receiver):
    with client.APIClient(USER, PASSWORD, base_url=phone.url) as api:
        for event in (WebhookEvent.SMS_SENT, WebhookEvent.SMS_DELIVERED, WebhookEvent.SMS_FAILED,
                      WebhookEvent.APP_STARTED, WebhookEvent.SMS_RECEIVED):
            api.create_webhook(domain.Webhook(id=None, url=receiver.url(), event=event))
        sent = api.send(domain.Message(phone_numbers=[A, B], text_message=domain.TextMessage(text="code 1234")))
        assert [r.state for r in state_of(api, sent.id, ProcessState.Delivered).recipients] == [
            ProcessState.Delivered] * 2
        assert [(m["to"], m["text"]) for m in phone.handset()] == [(A, "code 1234"), (B, "code 1234")]
        wait_for(lambda: len(receiver.events("sms:delivered", sent.id)) == 2)

        phone.control.fault("send_errors", ["generic_failure"])
        failed = state_of(api, api.send(domain.Message(phone_numbers=[A], text_message=domain.TextMessage(
            text="again"))).id, ProcessState.Failed)
        assert failed.recipients[0].error == "Send result: RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)"

        phone.control.request("kill", seconds=0.3)
        wait_for(lambda: receiver.events("app:started"))
        assert api.get_state(sent.id).state == ProcessState.Delivered
        phone.control.request("inject_sms", sender=B, text="STOP")
        wait_for(lambda: receiver.events("sms:received"))
    for request in receiver.requests:
        stamp = request["headers"]["X-Timestamp"]
        assert request["headers"]["X-Signature"] == hmac.new(
            SIGNING_KEY.encode(), request["body"] + stamp.encode(), hashlib.sha256).hexdigest()
