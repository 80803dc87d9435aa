"""Inbound SMS and delivery reports: modem event -> read -> decode -> store -> delete from the modem -> notify.

Each modem's events (modemd.modem.events: SmsStored, StatusReportStored, SmsDelivered, StatusReport, SmsStorageFull)
are subscribed to when the modem is attached. Their handlers run synchronously on the channel's reader, so they only
put the event into a per-modem queue here (no AT from inside the reader); the inbox never sees an AT line. A worker
per modem drains the queue through the modem's storage methods, whose AT commands share the channel's one-command
lock with the outbox, so sends and reads interleave safely. A message is deleted from the modem only after it is
committed, so a crash in between means it is read again, and the store drops the repeat. Every (re)connect sweeps
the storage (AT+CMGL=4) for what arrived while modemd was away, and a periodic sweep catches missed URCs and frees a
full SIM; devices without usable +CNMI (Android phones) are swept more often (their profile says poll_inbox).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from ..codec import pdu
from ..domain.errors import AtError, StorageError
from ..domain.held_reports import HeldReports
from ..domain.redact import mask_number
from ..domain.sms import OutboundSms, new_message_id
from ..modem.events import (DeliveryReported, SmsDelivered, SmsReceived, SmsStorageFull, SmsStored, StatusReport,
                            StatusReportStored)
from ..modem.quirks import DeviceProfile
from ..store import InboundPart, InboxMessage, InboxStore

log = logging.getLogger(__name__)

# Sweep intervals: a device that announces new SMS is swept now and then as a safety net; one that cannot
# (profile.poll_inbox) is polled like smstools3 does for such devices.
SAFETY_SWEEP = 300.0
POLL_SWEEP = 15.0
# Parts of a multipart SMS that are still missing after this long are given up on: what arrived is delivered,
# marked incomplete (a lost part is never coming: the network delivered what it had).
REASSEMBLY_TIMEOUT = 900.0
# TP-MR wraps at 256; a report is matched to a message sent by the same modem to the same number within this window.
REPORT_WINDOW = 3 * 24 * 3600.0


class StorageModem(Protocol):
    name: str

    @property
    def profile(self) -> DeviceProfile: ...
    def on(self, kind: type, handler: Callable[[object], None]) -> None: ...
    async def list_stored(self): ...
    async def read_stored(self, index: int): ...
    async def delete_stored(self, index: int) -> None: ...
    async def acknowledge(self) -> None: ...


# What the inbox does for each modem event: read a stored location, take a routed PDU, or (storage full) look at
# everything; a phone's already decoded SMS and delivery reports are stored as they are. All of them are only queued
# by the handler.
INBOX_EVENTS = (SmsStored, StatusReportStored, SmsDelivered, StatusReport, SmsStorageFull, SmsReceived,
                DeliveryReported)


@dataclass(frozen=True)
class _Sweep:
    """Read the whole storage: after a (re)connect, now and then as a safety net, or when an event asks for it."""


class Inbox:
    def __init__(self, store: InboxStore, *, on_received: Callable[[InboxMessage], None] | None = None,
                 on_report: Callable[[str, str], None] | None = None,
                 reassembly_timeout: float = REASSEMBLY_TIMEOUT, report_window: float = REPORT_WINDOW):
        self.store = store
        self._on_received = on_received
        self._on_report = on_report
        self.reassembly_timeout = reassembly_timeout
        self.report_window = report_window
        self._workers: dict[str, _ModemInbox] = {}
        self._reaper: asyncio.Task | None = None
        self.held = HeldReports()       # reports that came before their message was recorded sent

    def attach(self, modem: StorageModem) -> None:
        """Serve `modem`: its inbox events are queued for a worker of its own, which reads what they announce."""
        worker = _ModemInbox(self, modem)
        self._workers[modem.name] = worker
        for kind in INBOX_EVENTS:
            modem.on(kind, worker.put)
        worker.start()

    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_incomplete(), name="inbox-reassembly")

    async def stop(self) -> None:
        if self._reaper:
            self._reaper.cancel()
        await asyncio.gather(*(w.stop() for w in self._workers.values()), return_exceptions=True)

    def modem_up(self, modem_name: str) -> None:
        """After every (re)connect: read what arrived while we were away."""
        if modem_name in self._workers:
            self._workers[modem_name].put(_Sweep())

    async def _reap_incomplete(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, self.reassembly_timeout / 4))
            for message in await self.store.flush_stale(time.time() - self.reassembly_timeout, _inbox_id):
                log.warning("SMS from %s delivered incomplete: %d part(s) arrived before the timeout",
                            _who(message.sender), message.parts)
                self.announce_received(message)

    def announce_received(self, message: InboxMessage) -> None:
        """A message is in the inbox, complete or given up on: log it and tell on_received (metrics, webhooks)."""
        log.info("[%s] SMS %s from %s received (%d part(s)%s)", message.modem, message.id, _who(message.sender),
                 message.parts, "" if message.complete else ", incomplete", extra={"modem": message.modem})
        if self._on_received:
            self._on_received(message)

    async def message_sent(self, sms: OutboundSms) -> None:
        """The outbox recorded `sms` sent: a report that came before (held_reports.py) settles it now."""
        for held in self.held.take_for(sms):
            try:
                changed = await self.store.apply_held_report(sms.id, held.modem, held.reference, held.recipient,
                                                             held.received_at)
            except StorageError as exc:     # the report stays stored, unmatched; the send's record is not undone
                log.warning("message %s: its early delivery report (mr=%d) not applied: %s", sms.id,
                            held.reference, exc)
                continue
            if changed:
                self.announce_report(*changed)

    def announce_report(self, message_id: str, state: str) -> None:
        """A delivery report settled a message (delivered or failed): log it and tell on_report."""
        log.info("message %s %s (delivery report)", message_id, state)
        if self._on_report:
            self._on_report(message_id, state)


class _ModemInbox:
    def __init__(self, inbox: Inbox, modem: StorageModem):
        self.inbox = inbox
        self.modem = modem
        self.log = logging.LoggerAdapter(log, {"modem": modem.name})   # MODEMD_MODEM in the journal
        self.queue: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._undecodable: set[str] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"inbox-{self.modem.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def put(self, item) -> None:
        """Queue work; called on the channel's reader for events, so it never blocks and never does AT I/O."""
        self.queue.put_nowait(item)

    async def _run(self) -> None:
        while True:
            interval = POLL_SWEEP if self.modem.profile.poll_inbox else SAFETY_SWEEP
            try:    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancel of a stop()
                async with asyncio.timeout(interval):
                    item = await self.queue.get()
            except TimeoutError:
                item = _Sweep()
            try:
                await self._handle(item)
            except AtError as exc:      # modem gone or busy: the next sweep after reconnect picks it up
                self.log.info("[%s] inbox: %s; will look again later", self.modem.name, exc)
            except StorageError as exc:  # not stored, so not deleted from the SIM: the next sweep takes it again
                self.log.error("[%s] inbox: %s; messages stay on the SIM until it can be stored", self.modem.name, exc)
            except Exception:
                self.log.exception("[%s] inbox worker error", self.modem.name)

    async def _handle(self, item) -> None:
        if isinstance(item, (SmsStored, StatusReportStored)) and item.index is not None:
            stored = await self.modem.read_stored(item.index)
            if stored is not None:
                await self._take(stored)
        elif isinstance(item, (SmsDelivered, StatusReport)):
            await self._routed(item)
        elif isinstance(item, SmsReceived):
            await self._received(item)
        elif isinstance(item, DeliveryReported):
            await self._settle(item.reference, item.recipient, item.status, item.discharge_time)
        else:   # a sweep, a full storage, or something stored where the modem did not say: look at everything
            for stored in await self.modem.list_stored():
                await self._take(stored)

    async def _take(self, stored) -> None:
        """Store what the location holds, then free it. Our own stored SUBMITs (stat 2/3) are left alone."""
        if stored.stat in (2, 3):
            return
        if await self._process(stored.hex, stored.tpdu_length):
            await self.modem.delete_stored(stored.index)

    async def _routed(self, event: SmsDelivered | StatusReport) -> None:
        """Routed, not stored: nothing to delete; +CNMA acknowledges it where the service needs that."""
        await self._process(event.pdu, event.length)
        await self.modem.acknowledge()

    async def _process(self, hex_pdu: str, length: int | None) -> bool:
        """True once the PDU is safely recorded (or is nothing we keep)."""
        try:
            decoded = pdu.decode_any(hex_pdu, length)
        except pdu.PduError as exc:
            digest = _digest(hex_pdu)
            if digest not in self._undecodable:
                self._undecodable.add(digest)
                self.log.warning("[%s] undecodable PDU left on the modem (%d hex chars): %s", self.modem.name,
                                 len(hex_pdu), exc)
            return False
        if isinstance(decoded, pdu.Deliver):
            await self._deliver(decoded, hex_pdu)
        elif isinstance(decoded, pdu.StatusReport):
            await self._report(decoded)
        return True

    async def _deliver(self, sms: pdu.Deliver, hex_pdu: str) -> None:
        concat = sms.concat
        part = InboundPart(modem=self.modem.name, sender=sms.originator,
                           ref=concat.ref if concat else -1, total=concat.total if concat else 1,
                           seq=concat.seq if concat else 1, text=sms.text,
                           sc_timestamp=sms.timestamp.timestamp() if sms.timestamp else None,
                           received_at=time.time(), pdu_digest=_digest(hex_pdu), encoding=sms.encoding,
                           data=bytes(sms.data), shift=pdu.national_shift(sms.udh))
        message = await self.inbox.store.add_part(part, _inbox_id())
        if message:
            self.inbox.announce_received(message)

    async def _received(self, sms: SmsReceived) -> None:
        """An SMS the device decoded and joined itself (a phone): one part, told apart from a repeat of the same
        event by the event's id, as a PDU's digest tells a re-read apart."""
        part = InboundPart(modem=sms.modem, sender=sms.sender, ref=-1, total=1, seq=1, text=sms.text,
                           sc_timestamp=sms.received_at, received_at=time.time(),
                           pdu_digest=_event_digest(sms.event_id))
        message = await self.inbox.store.add_part(part, _inbox_id())
        if message:
            self.inbox.announce_received(message)

    async def _report(self, report: pdu.StatusReport) -> None:
        discharge = report.discharge_time.timestamp() if report.discharge_time else None
        await self._settle(report.message_reference, report.recipient, report.status, discharge)

    async def _settle(self, reference: int, recipient: str, status: int, discharge: float | None) -> None:
        now = time.time()
        changed = await self.inbox.store.apply_status_report(self.modem.name, reference, recipient, status,
                                                             discharge, now, self.inbox.report_window)
        if changed:
            self.inbox.announce_report(*changed)
        else:
            # Perhaps its message is not recorded sent yet; if it was stored unmatched, the "sent" settles it.
            self.inbox.held.remember(self.modem.name, reference, recipient, now)
            self.log.debug("[%s] status report for mr=%d (status 0x%02X) changed nothing", self.modem.name,
                           reference, status)


def _digest(hex_pdu: str) -> str:
    return hashlib.sha256(hex_pdu.strip().upper().encode()).hexdigest()[:24]


def _event_digest(event_id: str) -> str:
    """Ids are case-sensitive (nanoids), unlike hex PDUs: hashed as they are."""
    return hashlib.sha256(b"event:" + event_id.encode()).hexdigest()[:24]


def _inbox_id() -> str:
    return "in_" + new_message_id()[4:]


def _who(sender: str) -> str:
    """Numbers are masked in logs; alphanumeric senders (a bank, a carrier) are not personal data."""
    return mask_number(sender) if sender.lstrip("+").isdigit() else sender
