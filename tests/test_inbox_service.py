"""The Inbox service driven by modem events (issue 12, item 2): a fake modem (its storage a dict, its events the real
subscription of modemd.modem.events, no AT at all) against a real Store on a fresh SQLite file.

What it must keep doing: a stored SMS is read, stored, and deleted from the modem only once it is committed; a
routed one is stored and acknowledged; a full storage (or a stored SMS the modem did not place) is swept, leaving our
own stored SUBMITs alone; an undecodable PDU stays on the modem; a routed status report settles the sent message.
Handlers only queue: nothing is read while the modem's reader is still in the handler.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from kit import until
from modemd.codec import pdu
from modemd.domain.sms import OutboundSms, State, new_message_id
from modemd.modem.events import EventHandlers, SmsDelivered, SmsStorageFull, SmsStored, StatusReport
from modemd.modem.quirks import GENERIC
from modemd.modem.state import StoredPdu
from modemd.services.inbox import Inbox
from modemd.store.sqlite.inbox import InboxStore

SENDER, TO = "+447700900123", "+4915112345678"
WHEN = datetime(2024, 5, 17, 8, 30, tzinfo=timezone.utc)


def tpdu_length(hex_pdu: str) -> int:
    """TS 27.005 3.1 <length>: TPDU octets, the SMSC field in front not counted."""
    return len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)


def delivers(text: str, sender: str = SENDER) -> list[str]:
    return pdu.encode_deliver(sender, text, timestamp=WHEN, concat_ref=42)


class FakeModem:
    """What the inbox needs of a modem, without AT: events to subscribe to, a storage to read, list and delete."""

    def __init__(self, inbox_store: InboxStore, name: str = "m0"):
        self.name, self.profile = name, GENERIC
        self.storage: dict[int, StoredPdu] = {}
        self.reads: list[int] = []
        self.deleted: list[int] = []
        self.stored_when_deleted: list[int] = []    # how many inbox messages were committed at each delete
        self.lists = self.acks = 0
        self._inbox_store = inbox_store
        self._events = EventHandlers(logging.LoggerAdapter(logging.getLogger("test.fake_modem"), {}))
        self.on = self._events.on
        self.emit = self._events.emit               # what the modem's reader does on a URC

    def put(self, index: int, hex_pdu: str, stat: int = 0) -> None:
        self.storage[index] = StoredPdu(index, stat, hex_pdu, tpdu_length(hex_pdu))

    async def list_stored(self) -> list[StoredPdu]:
        self.lists += 1
        return [self.storage[i] for i in sorted(self.storage)]

    async def read_stored(self, index: int) -> StoredPdu | None:
        self.reads.append(index)
        return self.storage.get(index)

    async def delete_stored(self, index: int) -> None:
        self.stored_when_deleted.append(len(await self._inbox_store.list()))
        self.deleted.append(index)
        del self.storage[index]

    async def acknowledge(self) -> None:
        self.acks += 1


@dataclass
class Service:
    inbox: Inbox
    modem: FakeModem
    received: list      # on_received: InboxMessage
    reports: list       # on_report: (message id, new state)


@pytest.fixture
async def service(store):
    inbox_store, received, reports = InboxStore(store), [], []
    inbox = Inbox(inbox_store, on_received=received.append, on_report=lambda *report: reports.append(report))
    service = Service(inbox, FakeModem(inbox_store), received, reports)
    inbox.attach(service.modem)
    yield service
    await inbox.stop()


async def test_a_stored_sms_is_read_stored_and_deleted_only_after_the_commit(service):
    modem = service.modem
    [hex_pdu] = delivers("see you at 5")
    modem.put(3, hex_pdu)
    modem.emit(SmsStored("m0", "SM", 3))
    assert modem.reads == []                       # the handler only queued: no AT from the reader
    await until(lambda: modem.deleted)
    [message] = service.received
    assert (message.modem, message.sender, message.text, message.parts) == ("m0", SENDER, "see you at 5", 1)
    assert modem.reads == [3] and modem.deleted == [3] and modem.stored_when_deleted == [1]
    assert [m.text for m in await service.inbox.store.list()] == ["see you at 5"]


async def test_a_multipart_sms_in_two_locations_arrives_once_and_whole(service):
    modem = service.modem
    text = "Привет 😀 " * 12                         # UCS-2, two parts
    parts = delivers(text)
    assert len(parts) == 2
    for index, hex_pdu in zip((7, 8), parts):
        modem.put(index, hex_pdu)
        modem.emit(SmsStored("m0", "SM", index))
    await until(lambda: len(modem.deleted) == 2)
    [message] = service.received
    assert message.text == text and message.parts == 2 and message.complete


async def test_a_routed_sms_is_stored_and_acknowledged_with_nothing_to_delete(service):
    modem = service.modem
    [hex_pdu] = delivers("routed, not stored")
    modem.emit(SmsDelivered("m0", hex_pdu, tpdu_length(hex_pdu)))
    await until(lambda: modem.acks)
    assert [m.text for m in service.received] == ["routed, not stored"]
    assert modem.reads == [] and modem.deleted == [] and modem.lists == 0


async def test_a_full_storage_is_swept_and_our_own_submits_are_left_alone(service):
    modem = service.modem
    [submit] = pdu.encode_submit(TO, "ours, stored unsent")
    modem.put(1, submit.hex, stat=2)                # TS 27.005 3.1 <stat> 2: stored unsent (a SUBMIT of ours)
    [hex_pdu] = delivers("found by the sweep")
    modem.put(2, hex_pdu)
    modem.emit(SmsStorageFull("m0", "SM"))
    await until(lambda: modem.deleted)              # index 1 came first in the sweep
    assert modem.lists == 1 and modem.deleted == [2] and list(modem.storage) == [1]
    assert [m.text for m in service.received] == ["found by the sweep"]


async def test_a_stored_sms_the_modem_did_not_place_is_found_by_a_sweep(service):
    modem = service.modem
    [hex_pdu] = delivers("somewhere on the SIM")
    modem.put(5, hex_pdu)
    modem.emit(SmsStored("m0", "", None))           # a +CMTI whose index could not be read
    await until(lambda: modem.deleted)
    assert modem.lists == 1 and modem.reads == [] and [m.text for m in service.received] == ["somewhere on the SIM"]


async def test_an_undecodable_pdu_stays_on_the_modem(service, caplog):
    modem = service.modem
    modem.put(1, "0791447758100650040C914477")      # cut short
    [hex_pdu] = delivers("after the broken one")
    modem.put(2, hex_pdu)
    modem.emit(SmsStored("m0", "SM", 1))
    modem.emit(SmsStored("m0", "SM", 2))
    await until(lambda: modem.deleted)              # the queue is in order: index 1 was handled before
    assert modem.reads == [1, 2] and modem.deleted == [2] and list(modem.storage) == [1]
    assert "undecodable PDU left on the modem" in caplog.text


async def test_a_routed_status_report_settles_the_sent_message(service, store):
    modem = service.modem
    now = time.time()
    sms = OutboundSms(id=new_message_id(), to=TO, text="hello", parts=1, next_attempt_at=now, created_at=now,
                      updated_at=now)
    await store.enqueue(sms)
    assert (await store.claim_next("m0")).id == sms.id
    assert await store.mark_sent(sms.id, [77], purge_text=False)
    report = pdu.encode_status_report(77, TO, status=0, sc_timestamp=WHEN, discharge_time=WHEN)
    modem.emit(StatusReport("m0", report, tpdu_length(report)))
    await until(lambda: service.reports)
    assert service.reports == [(sms.id, "delivered")] and modem.acks == 1
    assert (await store.get(sms.id)).state is State.DELIVERED


# ---- a phone's events (SMS Gateway for Android): already decoded, no storage to read or delete --------------------
async def test_a_phones_received_sms_is_stored_as_it_came(service):
    """Repeats of a webhook are dropped by event id before they get here (the phone's listener)."""
    from modemd.modem.events import SmsReceived
    modem = service.modem
    modem.emit(SmsReceived("m0", "ev-1", SENDER, "from the phone", 1796176800.0))
    await until(lambda: service.received)
    assert [(m.sender, m.text, m.parts, m.sc_timestamp) for m in service.received] == \
        [(SENDER, "from the phone", 1, 1796176800.0)]
    assert modem.reads == [] and modem.deleted == [] and modem.lists == 0


async def test_a_phones_delivery_report_settles_the_sent_message(service, store):
    from modemd.modem.events import DeliveryReported
    now = time.time()
    sms = OutboundSms(id=new_message_id(), to=TO, text="hello", parts=2, next_attempt_at=now, created_at=now,
                      updated_at=now)
    await store.enqueue(sms)
    assert (await store.claim_next("m0")).id == sms.id
    assert await store.mark_sent(sms.id, [12], purge_text=False)
    service.modem.emit(DeliveryReported("m0", 12, TO, 0x00, now))
    await until(lambda: service.reports)
    assert service.reports == [(sms.id, "delivered")]
    assert (await store.get(sms.id)).state is State.DELIVERED


async def test_a_report_that_comes_before_the_send_is_recorded_settles_it_once_it_is(service, store):
    """The phone says "delivered" before the outbox has written "sent" (it does so just after, in a task of its
    own): the report is stored unmatched and remembered; the outbox's "sent" (Inbox.message_sent) settles it."""
    from modemd.modem.events import DeliveryReported
    now = time.time()
    sms = OutboundSms(id=new_message_id(), to=TO, text="hello", parts=1, next_attempt_at=now, created_at=now,
                      updated_at=now)
    await store.enqueue(sms)
    assert (await store.claim_next("m0")).id == sms.id
    service.modem.emit(DeliveryReported("m0", 31, TO, 0x00, now))
    await until(lambda: len(service.inbox.held) == 1)
    assert (await store.get(sms.id)).state is State.SENDING and service.reports == []
    assert await store.mark_sent(sms.id, [31], purge_text=False)
    await service.inbox.message_sent(await store.get(sms.id))
    assert service.reports == [(sms.id, "delivered")] and len(service.inbox.held) == 0
    assert (await store.get(sms.id)).state is State.DELIVERED


async def test_a_database_away_when_the_send_is_recorded_leaves_the_early_report_stored(service, store, caplog):
    from modemd.domain.errors import StorageError
    service.inbox.held.remember("m0", 5, TO, 1.0)

    async def away(*args):
        raise StorageError("database unavailable")
    service.inbox.store.apply_held_report = away
    now = time.time()
    sms = OutboundSms(id=new_message_id(), to=TO, text="hello", parts=1, next_attempt_at=now, created_at=now,
                      updated_at=now, modem="m0", references=[5])
    await service.inbox.message_sent(sms)                        # no exception reaches the outbox
    assert service.reports == [] and "early delivery report (mr=5) not applied" in caplog.text
