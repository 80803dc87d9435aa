"""The outbox through the real phone driver (its local server's HTTP side scripted, as in test_phone_driver.py),
on a real store: the services treat a phone as they treat an AT modem. A phone's radio off pauses it and the
message goes to the other modem of the pool; a phone nothing reaches is offline and burns no attempt."""

from __future__ import annotations

from kit import in_state, outbound, recorded, running_outbox, until
from modemd.config.model import ModemConfig
from modemd.domain.errors import ChannelClosed
from modemd.domain.policy import RetryPolicy
from modemd.domain.sms import State
from modemd.modem.phone import Phone
from modemd.modem.state import ModemState
from test_outbox import ScriptedModem

PHONE = ModemConfig(name="phone0", port="", url="http://127.0.0.1:18080", username="sms", password="pw")


class PhoneLocalServer:
    """PhoneApi's methods: every message is reported in the state `outcome` says, with its error."""

    def __init__(self, outcome: str = "Sent", error: str | None = None, post_error: Exception | None = None):
        self.outcome, self.error, self.post_error = outcome, error, post_error
        self.posted: list[dict] = []

    async def post_message(self, body: dict) -> dict:
        if self.post_error:
            raise self.post_error
        self.posted.append(body)
        return {"id": body["id"], "state": "Pending", "recipients": []}

    async def get_message(self, phone_id: str) -> dict:
        to = next(b["phoneNumbers"][0] for b in self.posted if b["id"] == phone_id)
        return {"id": phone_id, "state": self.outcome,
                "recipients": [{"phoneNumber": to, "state": self.outcome, "error": self.error}]}


def phone_with(server: PhoneLocalServer) -> Phone:
    phone = Phone(PHONE, server, poll_interval=0.01)
    phone.mark_ready("test")
    return phone


async def test_a_message_sent_through_a_phone(store):
    server = PhoneLocalServer()
    sms = outbound("Your code is 123456")
    await store.enqueue(sms)
    async with running_outbox(store, [phone_with(server)]):
        await until(in_state(store, sms, state=State.SENT))
    got = await store.get(sms.id)
    assert got.modem == "phone0" and len(got.references) == 1 and server.posted[0]["textMessage"]["text"] == \
        "Your code is 123456"


async def test_radio_off_pauses_the_phone_and_the_at_modem_takes_over(store):
    phone = phone_with(PhoneLocalServer("Failed", "RESULT_ERROR_RADIO_OFF (Failed because radio was explicitly "
                                                  "turned off)"))
    dongle = ScriptedModem("dongle")
    dongle.can_send = False
    sms = outbound("go elsewhere")
    await store.enqueue(sms)
    async with running_outbox(store, [phone, dongle], policy=RetryPolicy(base=0.05, device_pause=30)):
        await until(recorded(store, sms, error_code="RESULT_ERROR_RADIO_OFF"))
        assert phone.status.state is ModemState.PAUSED and not phone.can_send
        dongle.can_send = True
        await until(in_state(store, sms, state=State.SENT))
    got = await store.get(sms.id)
    assert got.modem == "dongle" and got.attempts == 1        # the phone's try was refunded


async def test_an_unreachable_phone_is_offline_and_burns_no_attempt(store):
    server = PhoneLocalServer(post_error=ChannelClosed("phone not reachable at http://127.0.0.1:18080"))
    phone = phone_with(server)
    dongle = ScriptedModem("dongle")
    dongle.can_send = False
    sms = outbound("wait or move")
    await store.enqueue(sms)
    async with running_outbox(store, [phone, dongle]):
        await until(lambda: phone.status.state is ModemState.OFFLINE)
        await until(recorded(store, sms, state=State.QUEUED, attempts=0))
        dongle.can_send = True
        await until(in_state(store, sms, state=State.SENT))
    assert (await store.get(sms.id)).modem == "dongle"
