"""What a modem reports upward: typed, frozen, past-tense events, and the subscriptions that carry them.

The Modem turns the AT layer's URCs into these (urcs.py decides what each URC means, once) and reports its own
losses; whoever consumes an event subscribes to it on the modem: `modem.on(SmsStored, handler)`, as ModemManager
registers unsolicited handlers on its AT port (mm_port_serial_at_add_unsolicited_msg_handler). Handlers run
synchronously on the channel's reader, so they must not send AT commands: they queue the work (the inbox's worker
reads the message later, in its own task). Every event carries the name of the modem it happened on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, TypeVar, Union


@dataclass(frozen=True)
class SmsStored:
    """'+CMTI: <mem>,<index>' (TS 27.005 3.4.1, +CNMI <mt>=1): an SMS-DELIVER was stored. `index` is None when the
    URC did not say where (it did not have that shape): then only reading the whole storage finds it."""
    modem: str
    storage: str
    index: int | None


@dataclass(frozen=True)
class StatusReportStored:
    """'+CDSI: <mem>,<index>' (TS 27.005 3.4.1, +CNMI <ds>=2): an SMS-STATUS-REPORT was stored; index as above."""
    modem: str
    storage: str
    index: int | None


@dataclass(frozen=True)
class SmsDelivered:
    """'+CMT: [<alpha>],<length>' and the PDU line (TS 27.005 3.4.1, +CNMI <mt>=2): an SMS-DELIVER routed to us
    without being stored. `pdu` is the hex line as received (SMSC field first); `length` counts TPDU octets, None
    when the header had none (the text-mode form, which a modem set to PDU mode should not send)."""
    modem: str
    pdu: str
    length: int | None


@dataclass(frozen=True)
class StatusReport:
    """'+CDS: <length>' and the PDU line (TS 27.005 3.4.1, +CNMI <ds>=1): an SMS-STATUS-REPORT routed to us."""
    modem: str
    pdu: str
    length: int | None


@dataclass(frozen=True)
class SmsStorageFull:
    """The modem said its SMS storage is full (Huawei '^SMMEMFULL: <mem>'): new messages wait in the network until
    stored ones are read and deleted. `storage` is "" when the modem did not name it."""
    modem: str
    storage: str


@dataclass(frozen=True)
class SignalChanged:
    """An unsolicited signal report (Huawei '^RSSI: <rssi>'): `rssi` on the +CSQ scale (TS 27.007 8.5, 0..31),
    None when not known (99, or a report we could not read)."""
    modem: str
    rssi: int | None


@dataclass(frozen=True)
class RegistrationChanged:
    """'+CREG: <stat>[,...]' / '+CEREG: <stat>[,...]' (TS 27.007 7.2, 10.1.22): the circuit-switched or EPS
    registration, which carry SMS, is now <stat> (1 home, 5 roaming, 2 searching, 3 denied, ...)."""
    modem: str
    stat: int


@dataclass(frozen=True)
class SmsReceived:
    """An SMS a phone received and decoded itself (SMS Gateway for Android's `sms:received` webhook): the text as
    the phone joined it, the sender, when. `event_id` is the phone's id of the event, the same on every retry of
    the webhook, so the inbox keeps one message per event."""
    modem: str
    event_id: str
    sender: str
    text: str
    received_at: float


@dataclass(frozen=True)
class DeliveryReported:
    """A delivery report a phone decoded (`sms:delivered`, or `sms:failed` after the message was sent), for the
    message the phone accepted with `reference` (the driver's, as TP-MR is an AT modem's) to `recipient`. `status`
    is on the TP-ST scale (TS 23.040 9.2.3.15: 0 received by the recipient, 0x40+ permanent error), so the inbox
    settles it as it settles a +CDS."""
    modem: str
    reference: int
    recipient: str
    status: int
    discharge_time: float | None


@dataclass(frozen=True)
class ModemLost:
    """The modem's port went away (unplugged, EIO); the modem is offline until it is opened and brought up again."""
    modem: str
    reason: str


ModemEvent = Union[SmsStored, StatusReportStored, SmsDelivered, StatusReport, SmsStorageFull, SignalChanged,
                   RegistrationChanged, SmsReceived, DeliveryReported, ModemLost]
EVENT_TYPES = (SmsStored, StatusReportStored, SmsDelivered, StatusReport, SmsStorageFull, SignalChanged,
               RegistrationChanged, SmsReceived, DeliveryReported, ModemLost)
E = TypeVar("E")


class EventHandlers:
    """Event type -> the handlers subscribed to it, called in the order they subscribed. One failing handler is
    logged and does not keep the event from the others (nor break the channel's reader)."""

    def __init__(self, log: logging.LoggerAdapter):
        self._handlers: dict[type, list[Callable]] = {kind: [] for kind in EVENT_TYPES}
        self._log = log

    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        if kind not in self._handlers:
            raise TypeError(f"{kind!r} is not a modem event (modemd.modem.events)")
        self._handlers[kind].append(handler)

    def emit(self, event: ModemEvent) -> None:
        for handler in self._handlers[type(event)]:
            try:
                handler(event)
            except Exception:
                self._log.exception("[%s] %s handler failed", event.modem, type(event).__name__)
