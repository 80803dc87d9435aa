"""The phone driver (modem/phone/): sends settled by webhook or, when a webhook is lost, by polling; failures
classified like CMS errors; delivery reports and inbound SMS as the modem events the inbox takes; the webhook
listener's signature check and repeat drop; adb's missing-program and missing-phone errors; both kinds of modem
behind the one ModemDriver interface. The local server's HTTP side is a scripted PhoneApi here; the daemon against
the simulated phone is in the e2e tests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time

import aiohttp
import pytest

from kit import until
from modemd.config.model import ModemConfig
from modemd.domain.errors import (AtTimeout, ChannelClosed, ErrorClass, PhoneRefused, PhoneSendFailed, classify)
from modemd.modem.adb import AdbBridge, AdbMissing, PhoneNotOnAdb, adb_failure
from modemd.modem.driver import ModemDriver, build_supervisor
from modemd.modem.events import DeliveryReported, SmsReceived
from modemd.modem.modem import Modem
from modemd.modem.phone import Phone, PhoneSupervisor
from modemd.modem.phone.listener import PATH, WebhookListener
from modemd.modem.phone.translate import PhoneEvent, sign
from modemd.modem.state import ModemState, SmsSendFailed
from modemd.modem.supervisor import ModemSupervisor

TO = "+4915112345678"
PHONE = ModemConfig(name="phone0", port="", url="http://127.0.0.1:18080", username="sms", password="pw")


class ScriptedApi:
    """PhoneApi's methods, answering as the test says; records what was posted."""

    def __init__(self, *, post_error: Exception | None = None, states: list[dict] | None = None):
        self.posted: list[dict] = []
        self.post_error = post_error
        self.states = states or []
        self.polls = 0
        self.healthy = True

    async def post_message(self, body: dict) -> dict:
        self.posted.append(body)
        if self.post_error:
            raise self.post_error
        return {"id": body["id"], "state": "Pending", "recipients": []}

    async def get_message(self, phone_id: str) -> dict:
        self.polls += 1
        return self.states.pop(0) if self.states else {"id": phone_id, "state": "Pending", "recipients": []}

    async def health(self) -> dict:
        if not self.healthy:
            raise ChannelClosed("phone not reachable")
        return {"status": "pass", "version": "1.40.0", "checks": {}}


def ready_phone(api: ScriptedApi, **kw) -> Phone:
    phone = Phone(PHONE, api, **kw)
    phone.mark_ready("test")
    return phone


def event(kind: str, message_id: str, **payload) -> PhoneEvent:
    return PhoneEvent(id=f"ev-{kind}-{message_id}-{time.monotonic_ns()}", event=kind, message_id=message_id,
                      number=payload.get("number", TO), text=payload.get("text", ""), reason=payload.get("reason", ""),
                      parts=payload.get("parts", 1), at=payload.get("at"))


async def posted_id(api: ScriptedApi) -> str:
    while not api.posted:
        await asyncio.sleep(0)
    return api.posted[-1]["id"]


async def test_a_send_settled_by_the_sms_sent_webhook():
    api = ScriptedApi()
    phone = ready_phone(api)
    send = asyncio.create_task(phone.send_sms(TO, "Your code is 123456", validity=240))
    phone_id = await posted_id(api)
    phone.handle_event(event("sms:sent", phone_id, parts=2))
    result = await send
    assert result.parts == 2 and len(result.references) == 1 and 0 <= result.references[0] < 256
    assert api.posted[0]["ttl"] == 240 and api.posted[0]["phoneNumbers"] == [TO] and api.polls == 0


async def test_a_lost_webhook_is_recovered_by_polling():
    api = ScriptedApi(states=[{"id": "x", "state": "Processed", "recipients": [{"phoneNumber": TO, "state": "Processed"}]},
                              {"id": "x", "state": "Sent", "recipients": [{"phoneNumber": TO, "state": "Sent"}]}])
    phone = ready_phone(api, poll_interval=0.01)
    result = await phone.send_sms(TO, "hello")
    assert result.parts == 1 and api.polls == 2


async def test_a_failure_is_classified_and_no_service_stops_the_phone_sending():
    text = "RESULT_ERROR_NO_SERVICE (Failed because service is currently unavailable)"
    api = ScriptedApi(states=[{"id": "x", "state": "Failed",
                               "recipients": [{"phoneNumber": TO, "state": "Failed", "error": text}]}])
    phone = ready_phone(api, poll_interval=0.01)
    with pytest.raises(SmsSendFailed) as info:
        await phone.send_sms(TO, "hello")
    cause = info.value.cause
    assert isinstance(cause, PhoneSendFailed) and cause.cause == "RESULT_ERROR_NO_SERVICE"
    assert classify(cause) is ErrorClass.TRANSIENT and info.value.parts_sent == 0
    assert phone.status.state is ModemState.NOT_REGISTERED and not phone.can_send
    phone.mark_ready("health answered")
    assert phone.can_send


async def test_radio_off_by_webhook_is_a_device_state():
    api = ScriptedApi()
    phone = ready_phone(api)
    send = asyncio.create_task(phone.send_sms(TO, "hello"))
    phone.handle_event(event("sms:failed", await posted_id(api), reason="RESULT_ERROR_RADIO_OFF (x)"))
    with pytest.raises(SmsSendFailed) as info:
        await send
    assert classify(info.value.cause) is ErrorClass.DEVICE_STATE


@pytest.mark.parametrize("error,kind", [
    (ChannelClosed("phone not reachable"), ErrorClass.TRANSIENT),
    (ChannelClosed("lost", after_payload=True), ErrorClass.AMBIGUOUS),
    (PhoneRefused(400, "invalid phone number"), ErrorClass.PERMANENT),
    (PhoneRefused(401, "Unauthorized"), ErrorClass.DEVICE_STATE),
])
async def test_a_refused_or_lost_post(error, kind):
    phone = ready_phone(ScriptedApi(post_error=error))
    with pytest.raises(SmsSendFailed) as info:
        await phone.send_sms(TO, "hello")
    assert classify(info.value.cause) is kind
    # A phone nothing reached is offline, as an unplugged dongle: the outbox refunds the try, another modem sends.
    unreachable = isinstance(error, ChannelClosed) and not error.after_payload
    assert phone.can_send is not unreachable


async def test_a_phone_that_never_says_sent_is_ambiguous():
    phone = ready_phone(ScriptedApi(), send_timeout=0.05, poll_interval=0.01)
    with pytest.raises(SmsSendFailed) as info:
        await phone.send_sms(TO, "hello")
    assert isinstance(info.value.cause, AtTimeout) and classify(info.value.cause) is ErrorClass.AMBIGUOUS


async def test_delivery_reports_and_inbound_sms_are_modem_events():
    api = ScriptedApi()
    phone = ready_phone(api)
    reports: list[DeliveryReported] = []
    received: list[SmsReceived] = []
    phone.on(DeliveryReported, reports.append)
    phone.on(SmsReceived, received.append)
    send = asyncio.create_task(phone.send_sms(TO, "hello"))
    phone_id = await posted_id(api)
    phone.handle_event(event("sms:sent", phone_id))
    result = await send
    phone.handle_event(event("sms:delivered", phone_id, at=1796176800.0))
    phone.handle_event(event("sms:delivered", "not-ours"))
    phone.handle_event(event("sms:received", "in1", number="+4917000000", text="hi", at=1796176801.0))
    # At once: a report that comes before the outbox records the send is applied by the "sent" (held_reports.py).
    assert reports == [DeliveryReported("phone0", result.references[0], TO, 0x00, 1796176800.0)]
    assert [(r.sender, r.text, r.received_at) for r in received] == [("+4917000000", "hi", 1796176801.0)]


async def test_an_unanswering_phone_is_offline():
    api = ScriptedApi()
    phone = ready_phone(api)
    api.healthy = False
    assert not await phone.check_answering("no answer")
    assert phone.status.state is ModemState.OFFLINE and not phone.can_send


async def test_the_listener_checks_signatures_and_drops_repeats():
    seen: list[PhoneEvent] = []
    listener = WebhookListener("phone0", seen.append)
    await listener.start()
    listener.signing_key = "k3y"
    body = json.dumps({"id": "ev1", "webhookId": "w", "event": "sms:received", "deviceId": "d",
                       "payload": {"messageId": "m", "sender": "+4917000000", "message": "hi"}}).encode()
    stamp = str(int(time.time()))
    good = {"X-Timestamp": stamp, "X-Signature": sign("k3y", body, stamp), "Content-Type": "application/json"}
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{listener.port}{PATH}"
            assert listener.url == url
            async with http.post(url, data=body, headers={**good, "X-Signature": "0" * 64}) as r:
                assert r.status == 401
            for _ in range(2):          # the app retries until it gets a 2xx: the repeat is answered, not kept
                async with http.post(url, data=body, headers=good) as r:
                    assert r.status == 200
    finally:
        await listener.stop()
    assert [(e.id, e.text) for e in seen] == [("ev1", "hi")]


async def test_adb_missing_is_said_clearly(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(AdbMissing, match="apt install adb"):
        await AdbBridge("R58M123ABC", 8080).connect(40000)


@pytest.mark.parametrize("text,kind,words", [
    ("adb: device 'R58M123ABC' not found", PhoneNotOnAdb, "enable USB debugging"),
    ("error: no devices/emulators found", PhoneNotOnAdb, "plug it in"),
    ("error: device unauthorized.", PhoneNotOnAdb, "Allow USB debugging?"),
    ("error: cannot bind listener: Address already in use", ChannelClosed, "Address already in use"),
])
def test_what_adb_says_when_it_fails(text, kind, words):
    error = adb_failure("R58M123ABC", ("forward", "tcp:8080", "tcp:8080"), text)
    assert type(error) is kind and words in str(error) and "R58M123ABC" in str(error)


@pytest.mark.e2e
async def test_a_phone_missing_from_adb_is_said_clearly(tmp_path, monkeypatch):
    fake_adb = tmp_path / "adb"     # what adb prints when the serial is not connected
    fake_adb.write_text("#!/bin/sh\necho \"adb: device 'R58M123ABC' not found\" >&2\nexit 1\n")
    fake_adb.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(PhoneNotOnAdb, match="enable USB debugging"):
        await AdbBridge("R58M123ABC", 8080).connect(40000)
    assert classify(PhoneNotOnAdb("x")) is ErrorClass.TRANSIENT


async def test_both_kinds_of_modem_are_one_driver():
    phone_sup = build_supervisor(PHONE)
    at_sup = build_supervisor(ModemConfig(name="modem0", port="/dev/ttyUSB9"))
    assert isinstance(phone_sup, PhoneSupervisor) and isinstance(at_sup, ModemSupervisor)
    assert isinstance(phone_sup.modem, ModemDriver) and isinstance(at_sup.modem, ModemDriver)
    assert isinstance(at_sup.modem, Modem) and phone_sup.port == "http://127.0.0.1:18080"
    await phone_sup.stop()
    await at_sup.stop()


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("adb") is None, reason="Debian's adb is not installed")
async def test_real_adb_says_the_phone_is_missing():
    try:
        with pytest.raises(PhoneNotOnAdb, match="phone NOSUCHPHONE0 is not connected over adb") as info:
            await AdbBridge("NOSUCHPHONE0", closed_port()).connect(closed_port())
        assert "daemon" not in str(info.value)
    finally:      # the adb server our call started
        process = await asyncio.create_subprocess_exec("adb", "kill-server", stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.DEVNULL)
        await process.wait()


def closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_phone_nobody_answers_for_is_offline_and_safe_to_resend():
    from modemd.modem.phone.api import PhoneApi
    api = PhoneApi(f"http://127.0.0.1:{closed_port()}", "sms", "pw")
    try:
        with pytest.raises(ChannelClosed) as info:
            await api.post_message({"id": "x"})
    finally:
        await api.close()
    assert not info.value.after_payload and classify(info.value) is ErrorClass.TRANSIENT


async def test_the_supervisor_reports_an_absent_phone_offline():
    from dataclasses import replace
    sup = PhoneSupervisor(replace(PHONE, url=f"http://127.0.0.1:{closed_port()}"))
    sup.start()
    try:
        while not sup.modem.status.last_error:      # set by the first failed attach
            await asyncio.sleep(0.01)
        assert "cannot attach" in sup.modem.status.last_error and "not reachable" in sup.modem.status.last_error
        assert sup.modem.status.state is ModemState.OFFLINE and not sup.modem.can_send
    finally:
        await sup.stop()


async def test_the_listener_takes_its_port_again_after_a_restart(tmp_path):
    """The app retries an undelivered webhook at the URL it was registered with: the same port catches it."""
    port_file = tmp_path / "phone-phone0.webhook-port"
    first = WebhookListener("phone0", lambda e: None, port_file=port_file)
    await first.start()
    port = first.port
    await first.stop()
    again = WebhookListener("phone0", lambda e: None, port_file=port_file)
    await again.start()
    try:
        assert again.port == port and port_file.read_text().strip() == str(port)
        taken = WebhookListener("phone0", lambda e: None, port_file=port_file)   # another process has it now
        await taken.start()
        assert taken.port != port and port_file.read_text().strip() == str(taken.port)
        await taken.stop()
    finally:
        await again.stop()
