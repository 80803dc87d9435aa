"""The phone driver: a phone running SMS Gateway for Android, seen by the services exactly as an AT Modem is
(modem/driver.py's ModemDriver): send_sms() returns a SendResult or raises SmsSendFailed with a classified cause,
its state lives in the same ModemStateTracker, and what it receives or hears back comes out as modem events.

Sending: one POST /messages per SMS (the phone splits a long text itself), then wait until the phone says the
message left (Sent, or Delivered) or Failed. The answer comes by webhook (sms:sent / sms:failed, handed in by the
supervisor's listener through handle_event), with GET /messages/{id} every POLL_INTERVAL as the fallback for a
webhook that never came (lost, the app restarted, no `adb reverse`). The waiter is registered before the POST, so a
webhook that beats the POST's answer is not missed (zigpy's reply-future rule). No answer in SEND_TIMEOUT: the
phone has the message but has not said it went out, so the send is AMBIGUOUS, as a +CMGS timeout after Ctrl-Z is.

Each accepted message gets a reference (0-255, as TP-MR is on an AT modem) that the outbox records; a later
sms:delivered or sms:failed for it becomes DeliveryReported with that reference, which the inbox settles through
the store as it does a +CDS.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from ...config.model import ModemConfig
from ...domain.errors import AtError, AtTimeout, ChannelClosed, PhoneSendFailed
from ...domain.phone_errors import NO_NETWORK_CAUSES
from ...domain.redact import mask_number
from ..events import DeliveryReported, E, EventHandlers, SmsReceived
from ..quirks import DeviceProfile
from ..state import ModemState, ModemStateTracker, ModemStatus, SendResult, SmsSendFailed, StoredPdu
from .api import PhoneApi
from .translate import (FAILED, HANDED_OVER, TP_ST_DELIVERED, PhoneEvent, delivery_status, message_request,
                        recipient_state)

log = logging.getLogger(__name__)

# How long a phone may hold a message before saying it went out. Android queues SMS behind its own send-rate
# limit and a busy radio; an AT modem's +CMGS may take 120 s (quirks.submit_timeout), a phone a little longer.
SEND_TIMEOUT = 180.0
# How often a send waiting for its webhook asks the phone instead (GET /messages/{id}).
POLL_INTERVAL = 10.0
# Messages whose delivery reports are still matched to their reference: a report comes within minutes, rarely days;
# older ones are forgotten first.
REMEMBERED_SENDS = 4096
# The app's device profile: no AT, no SIM storage; inbound SMS come by webhook, so the inbox has nothing to poll.
PHONE_PROFILE = DeviceProfile(name="android-sms-gateway", cnmi=None, poll_inbox=False)
# TS 27.007 7.2 <stat> as the phone's reading: Android does not expose registration over the local server, so a
# phone that answers counts as registered (1) until a send fails with "no service" (0), and again at the next
# answered health check.
REGISTERED, NO_SERVICE = 1, 0


@dataclass
class _Waiter:
    to: str
    reference: int
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Phone:
    def __init__(self, settings: ModemConfig, api: PhoneApi, *, on_state: Callable[[ModemState], None] | None = None,
                 send_timeout: float = SEND_TIMEOUT, poll_interval: float = POLL_INTERVAL):
        self.settings = settings
        self.name = settings.name
        self.api = api
        self.profile = PHONE_PROFILE
        self.log = logging.LoggerAdapter(log, {"modem": self.name})
        self._tracker = ModemStateTracker(self.name, self.log, on_state)
        self.status: ModemStatus = self._tracker.status
        self._events = EventHandlers(self.log)
        self._waiting: dict[str, _Waiter] = {}
        # phone id -> (reference, recipient)
        self._sent: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._reference = secrets.randbelow(256)
        self.send_timeout = send_timeout
        self.poll_interval = poll_interval

    # ---- sending -----------------------------------------------------------------------------------------------
    async def send_sms(self, to: str, text: str, *, status_report: bool = True,
                       validity: int | None = None) -> SendResult:
        phone_id = "modemd-" + secrets.token_urlsafe(12)       # the app's ids are at most 36 characters
        waiter = self._waiting[phone_id] = _Waiter(to, self._next_reference())
        try:
            await self._submit(phone_id, to, text, validity, status_report)
            parts = await self._until_sent(phone_id, waiter)
        except AtError as exc:
            self.status.last_error = str(exc)
            if isinstance(exc, ChannelClosed) and not exc.after_payload:
                # Nothing reached the phone: it is gone as an unplugged dongle is (the outbox refunds the try);
                # the supervisor's next health check brings it back.
                self.mark_offline(f"not reachable: {exc}")
            raise SmsSendFailed(exc, 0, []) from exc
        finally:
            del self._waiting[phone_id]
        self._remember(phone_id, waiter)
        self.log.debug("[%s] message to %s sent by the phone (%d part(s)), ref=%d", self.name, mask_number(to),
                       parts, waiter.reference)
        return SendResult(references=[waiter.reference], parts=parts)

    async def _submit(self, phone_id: str, to: str, text: str, validity: int | None, status_report: bool) -> None:
        body = message_request(phone_id, to, text, validity=validity, status_report=status_report)
        await self.api.post_message(body)

    async def _until_sent(self, phone_id: str, waiter: _Waiter) -> int:
        """Parts sent, once the phone says the message left; raises PhoneSendFailed, or AtTimeout (AMBIGUOUS)."""
        deadline = time.monotonic() + self.send_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AtTimeout(f"the phone has not sent it after {self.send_timeout:.0f} s", after_payload=True,
                                command=f"POST /messages ({phone_id})")
            try:
                async with asyncio.timeout(min(self.poll_interval, left)):
                    return await asyncio.shield(waiter.done)
            except TimeoutError:
                await self._poll(phone_id, waiter)

    async def _poll(self, phone_id: str, waiter: _Waiter) -> None:
        """The fallback for a missed webhook: ask the phone. A phone that does not answer just now (the app
        restarting) is asked again at the next interval, until the send times out."""
        try:
            state = recipient_state(await self.api.get_message(phone_id), waiter.to)
        except (AtError, ValueError) as exc:
            self.log.info("[%s] asking the phone about %s: %s", self.name, phone_id, exc)
            return
        if not waiter.done.done():
            self._settle(waiter, state.state, state.error, parts=1)

    def _settle(self, waiter: _Waiter, state: str, error: str | None, *, parts: int) -> None:
        if state in HANDED_OVER:
            waiter.done.set_result(parts)
        elif state == FAILED:
            cause = PhoneSendFailed(error or "")
            if cause.cause in NO_NETWORK_CAUSES:
                self._no_service(cause.error_text)
            waiter.done.set_exception(cause)

    def _next_reference(self) -> int:
        self._reference = (self._reference + 1) % 256
        return self._reference

    def _remember(self, phone_id: str, waiter: _Waiter) -> None:
        self._sent[phone_id] = (waiter.reference, waiter.to)
        while len(self._sent) > REMEMBERED_SENDS:
            self._sent.popitem(last=False)

    # ---- what the phone tells (webhooks, through the supervisor's listener) -------------------------------------
    def handle_event(self, event: PhoneEvent) -> None:
        """One verified, first-seen webhook. Never blocks: it settles a waiting send or emits an event."""
        if event.event == "sms:received":
            self._events.emit(SmsReceived(self.name, event.id, event.number, event.text,
                                          event.at or time.time()))
            return
        waiter = self._waiting.get(event.message_id)
        if waiter is not None and not waiter.done.done():
            if event.event in ("sms:sent", "sms:delivered"):
                self._settle(waiter, "Sent", None, parts=event.parts)
            elif event.event == "sms:failed":
                self._settle(waiter, FAILED, event.reason, parts=0)
        if event.event in ("sms:delivered", "sms:failed"):
            self._report(event)

    def _report(self, event: PhoneEvent) -> None:
        waiting = self._waiting.get(event.message_id)
        if waiting is not None:
            if event.event == "sms:failed":
                return       # failed before it left: the send's own failure, settled above, not a report
            reference, to = waiting.reference, waiting.to
        elif event.message_id in self._sent:
            reference, to = self._sent[event.message_id]
        else:
            return           # not ours, or long forgotten
        status = TP_ST_DELIVERED if event.event == "sms:delivered" else delivery_status(event.reason)
        # At once, even if the outbox has not recorded the send yet: the report is stored, and the "sent" applies
        # it then (domain/held_reports.py).
        self._events.emit(DeliveryReported(self.name, reference, to, status, event.at))

    # ---- state (the same tracker as an AT modem's; fed by the supervisor's health checks) ------------------------
    @property
    def can_send(self) -> bool:
        return self.status.state is ModemState.READY

    @property
    def not_responding(self) -> bool:
        return self._tracker.not_responding

    def pause(self, seconds: float, reason: str) -> None:
        self._tracker.pause(seconds, reason)

    async def check_answering(self, reason: str) -> bool:
        """After a request went unanswered: does the phone answer /health at all? No: offline, as an unplugged
        dongle is, until the supervisor's health checks get an answer."""
        try:
            await self.api.health()
        except AtError as exc:
            self.mark_offline(f"{reason}; /health: {exc}")
            return False
        return True

    def mark_ready(self, reason: str = "") -> None:
        self.status.registration = REGISTERED
        if self.status.state in (ModemState.PAUSED,):
            return       # a pause ends by itself
        self._tracker.set_state(ModemState.READY, reason)

    def _no_service(self, reason: str) -> None:
        self.status.registration = NO_SERVICE
        self.status.last_error = reason
        self._tracker.update_readiness()

    def mark_offline(self, reason: str) -> None:
        self._tracker.mark_offline(reason)

    def mark_initializing(self) -> None:
        self._tracker.set_state(ModemState.INITIALIZING)

    # ---- events ------------------------------------------------------------------------------------------------
    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._events.on(kind, handler)

    # ---- storage: the phone keeps its own; what it receives arrives by webhook (sms:received) -------------------
    async def list_stored(self) -> list[StoredPdu]:
        return []

    async def read_stored(self, index: int) -> StoredPdu | None:
        return None

    async def delete_stored(self, index: int) -> None:
        return None

    async def acknowledge(self) -> None:
        return None
