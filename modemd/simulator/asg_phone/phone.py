"""The simulated phone: the app's sending queue, its radio (the handset record), delivery reports, inbound SMS,
webhooks, and the app being killed and started again.

Sending follows MessagesService: one worker takes Pending messages in order; a message past its validUntil fails
for all recipients with "TTL expired"; otherwise per recipient the text goes to SmsManager (Processed), split by
divideMessage, and each part's sent intent moves the recipient to Sent (an sms:sent webhook per part) or Failed with
"Send result: RESULT_ERROR_..."; each part's delivered intent moves it to Delivered (an sms:delivered per part) or
Failed ("Delivery result from SC ...: <TP-ST>"). Every state change of a recipient goes through the app's one
updateState(), which is what emits the webhooks.

Killed: the HTTP server is gone, the queue, delivery reports and webhook deliveries wait; the message table (the
app's database) keeps every state. Started again: the server answers, the waits resume, `app:started` is sent.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time

from ...codec.parts import plan
from ..actions import SubmittedPart
from ..handset import Handset
from .faults import PhoneFaults
from .health import health
from .state import MessageTable, PhoneMessage, iso, nanoid
from .webhooks import RETRY_COUNT, RETRY_DELAY, WebhookRegistry, WebhookSender

log = logging.getLogger(__name__)

SMSC = "+491770610000"          # the service centre named in a failed delivery report's text
TP_ST_PERMANENT = 64            # TS 23.040 9.2.3.15: 0x40, permanent error (remote procedure error)
SIM_CARDS = [{"simNumber": 1, "phoneNumber": "+4915112345678", "carrierName": "Simulated", "countryIso": "de"}]


class AsgPhone:
    def __init__(self, *, handset_path: str | None, faults: PhoneFaults | None = None, signing_key: str,
                 device_id: str | None = None, retry_count: int = RETRY_COUNT, retry_delay: float = RETRY_DELAY,
                 ping_interval: float = 0.0):
        self.faults = faults or PhoneFaults()
        self.device_id = device_id or nanoid()
        self.signing_key, self.ping_interval = signing_key, ping_interval
        self.handset = Handset(handset_path)
        self.messages = MessageTable()
        self.webhooks = WebhookRegistry()
        self.running = asyncio.Event()          # the app is up (cleared while "killed")
        self.sender = WebhookSender(self.webhooks, device_id=self.device_id, signing_key=signing_key,
                                    faults=self.faults, running=self.running, retry_count=retry_count,
                                    retry_delay=retry_delay)
        self.on_kill = self.on_start = None     # set by the server: stop and start listening
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._message_reference = itertools.count(1)
        self._concat_reference = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._pinging: asyncio.Task | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.sender.start()
        self.running.set()
        self._spawn(self._send_loop())
        if self.ping_interval:
            self._pinging = self._spawn(self._ping_loop())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sender.stop()

    async def kill(self, seconds: float | None = None) -> None:
        """The app process dies (Android killed it, the user force-stopped it); back after `seconds` if given."""
        self.running.clear()
        if self.on_kill:
            await self.on_kill()
        if seconds is not None:
            self._spawn(self._start_after(seconds))

    async def restart(self) -> None:
        if self.running.is_set():
            return
        if self.on_start:
            await self.on_start()
        self.running.set()
        self.sender.emit("app:started", {"simCards": SIM_CARDS})

    async def _start_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.restart()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- sending -----------------------------------------------------------------------------------------------
    def submit(self, message: PhoneMessage) -> PhoneMessage:
        self.messages.add(message)
        self._queue.put_nowait(message.id)
        return message

    async def _send_loop(self) -> None:
        while True:
            message = self.messages.get(await self._queue.get())
            await self.running.wait()
            try:
                await self._send(message)
            except Exception:                   # one bad message must not stop the queue
                log.exception("sending %s failed", message.id)

    async def _send(self, message: PhoneMessage) -> None:
        if message.expired():
            self._update(message, None, "Failed", "TTL expired")
            return
        sms = plan(message.text)
        message.parts_count = len(sms.parts)
        for recipient in message.recipients:
            await self._send_to(message, recipient.phone_number, sms)

    async def _send_to(self, message: PhoneMessage, phone: str, sms) -> None:
        error = self.faults.next_send_error()
        if error:
            self._update(message, phone, "Failed", error)
            return
        self._update(message, phone, "Processed")
        if self.faults.send_delay:
            await asyncio.sleep(self.faults.send_delay)
            await self.running.wait()
        total, reference = len(sms.parts), next(self._concat_reference) % 256
        for seq, text in enumerate(sms.parts, 1):
            mr = next(self._message_reference) % 256
            self.handset.receive(SubmittedPart(
                to=phone, text=text, encoding=sms.encoding, concat=(reference, total, seq) if total > 1 else None,
                message_reference=mr, status_report_requested=message.with_delivery_report,
                validity=_seconds_left(message), mode="pdu"))
            self._update(message, phone, "Sent")
            if message.with_delivery_report:
                self._spawn(self._delivery_report(message, phone))

    async def _delivery_report(self, message: PhoneMessage, phone: str) -> None:
        await asyncio.sleep(self.faults.delivery_delay)
        await self.running.wait()
        outcome = self.faults.delivery
        if outcome == "delivered":
            self._update(message, phone, "Delivered")
        elif outcome == "failed":
            self._update(message, phone, "Failed", f"Delivery result from SC {SMSC}: {TP_ST_PERMANENT}")

    def _update(self, message: PhoneMessage, phone: str | None, state: str, error: str | None = None) -> None:
        """MessagesService.updateState() and EventsReceiver: the change, then one webhook per recipient moved."""
        message.set_state(phone, state, error)
        moved = [phone] if phone else [r.phone_number for r in message.recipients]
        for number in moved:
            payload = _event_payload(message, number, state, error)
            if payload is not None:
                self.sender.emit(_EVENTS[state], payload)

    # ---- the rest of the app -----------------------------------------------------------------------------------
    def receive_sms(self, sender: str, text: str, sim_number: int = 1) -> dict:
        """An SMS arrives: sms:received (SmsEventPayload.SmsReceived) to every registration."""
        payload = {"messageId": nanoid(), "message": text, "phoneNumber": sender, "sender": sender,
                   "recipient": SIM_CARDS[0]["phoneNumber"], "simNumber": sim_number, "receivedAt": iso(time.time())}
        return {"messageId": payload["messageId"], "webhooks": self.sender.emit("sms:received", payload)}

    def health(self) -> dict:
        return health(self.messages.all(), no_service=self.faults.no_service)

    def ping(self) -> int:
        return self.sender.emit("system:ping", {"health": self.health()})

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            await self.running.wait()
            self.ping()

    def update_settings(self, settings: dict[str, dict]) -> dict:
        """PATCH /settings (settings.parse_settings checked it): a new signing key signs the next attempt of every
        webhook, queued ones too (the app reads its key per request); a ping interval (re)starts the pings."""
        webhooks, ping = settings["webhooks"], settings["ping"]
        if "signing_key" in webhooks:
            self.signing_key = self.sender.signing_key = webhooks["signing_key"]
        if "retry_count" in webhooks:
            self.sender.retry_count = webhooks["retry_count"]
        if "interval_seconds" in ping:
            if self._pinging is not None:
                self._pinging.cancel()
            self.ping_interval = float(ping["interval_seconds"])
            self._pinging = self._spawn(self._ping_loop())
        return self.settings()

    def settings(self) -> dict:
        return {"webhooks": {"signing_key": self.signing_key, "retry_count": self.sender.retry_count,
                             "internet_required": False},
                "ping": {"interval_seconds": int(self.ping_interval)} if self.ping_interval else {}}

    def state(self) -> dict:
        return {"running": self.running.is_set(), "deviceId": self.device_id, "faults": self.faults.as_dict(),
                "messages": [m.view(self.device_id) for m in self.messages.all()], "webhooks": self.webhooks.all(),
                "webhooks_sent": self.sender.sent, "webhooks_dropped": self.sender.dropped}


_EVENTS = {"Sent": "sms:sent", "Delivered": "sms:delivered", "Failed": "sms:failed"}


def _event_payload(message: PhoneMessage, phone: str, state: str, error: str | None) -> dict | None:
    """SmsEventPayload.SmsSent / SmsDelivered / SmsFailed; None for states that send no webhook."""
    if state not in _EVENTS:
        return None
    now = iso(time.time())
    payload = {"messageId": message.id, "recipient": phone, "phoneNumber": phone}
    if message.sim_number is not None:
        payload["simNumber"] = message.sim_number
    if state == "Sent":
        payload.update(partsCount=message.parts_count or -1, sentAt=now)
    elif state == "Delivered":
        payload["deliveredAt"] = now
    else:
        payload.update(failedAt=now, reason=error or "Unknown")
    return payload


def _seconds_left(message: PhoneMessage) -> int | None:
    return None if message.valid_until is None else max(0, int(message.valid_until - time.time()))
