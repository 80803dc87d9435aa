"""What a URC means: the one table that turns an AT-layer Urc into a modem event (events.py), or into nothing.

The AT layer knows a URC's shape (at/urc.py: which prefixes, how many lines) and reads its fields (at/replies.py);
this table knows what it says about the modem. A URC that is not in it (RING, +CPIN, ^BOOT, +QIND, ...) means
nothing to modemd and gives no event. Explicit data, no dispatch by building names (DESIGN, Style).

Fallbacks keep what the daemon did before events: a +CMTI/+CDSI whose index cannot be read still says that
something was stored (SmsStored with index None: read the whole storage); a ^RSSI that cannot be read means the
signal is not known. A +CREG/+CEREG that cannot be read raises ReplyParseError for the modem to log.
"""

from __future__ import annotations

from typing import Callable

from ..at import replies
from ..at.channel import Urc
from .events import (ModemEvent, RegistrationChanged, SignalChanged, SmsDelivered, SmsStorageFull, SmsStored,
                     StatusReport, StatusReportStored)


def event_for(modem: str, urc: Urc) -> ModemEvent | None:
    """The event URC `urc` on modem `modem` stands for, or None. Raises ReplyParseError for a malformed +CREG."""
    meaning = URC_EVENTS.get(urc.name)
    return meaning(modem, urc) if meaning else None


def _sms_stored(modem: str, urc: Urc) -> SmsStored:
    storage, index = _mem_index(replies.parse_cmti, urc.line)
    return SmsStored(modem, storage, index)


def _report_stored(modem: str, urc: Urc) -> StatusReportStored:
    storage, index = _mem_index(replies.parse_cdsi, urc.line)
    return StatusReportStored(modem, storage, index)


def _mem_index(parse: Callable[[str], tuple[str, int]], line: str) -> tuple[str, int | None]:
    try:
        return parse(line)
    except replies.ReplyParseError:
        return "", None


def _sms_delivered(modem: str, urc: Urc) -> SmsDelivered | None:
    """No event when the PDU line never came (the AT layer gave up on it): there is nothing to read or to ack."""
    if urc.body is None:
        return None
    return SmsDelivered(modem, urc.body, _length(replies.parse_cmt_length, urc.line))


def _status_report(modem: str, urc: Urc) -> StatusReport | None:
    """The text-mode '+CDS: <fo>,<mr>,...' is one line without a PDU: no event (a modem in PDU mode sends the
    two-line form)."""
    if urc.body is None:
        return None
    return StatusReport(modem, urc.body, _length(replies.parse_cds_length, urc.line))


def _length(parse: Callable[[str], int | None], line: str) -> int | None:
    try:
        return parse(line)
    except replies.ReplyParseError:
        return None


def _storage_full(modem: str, urc: Urc) -> SmsStorageFull:
    return SmsStorageFull(modem, replies.parse_smmemfull(urc.line))


def _signal(modem: str, urc: Urc) -> SignalChanged:
    try:
        return SignalChanged(modem, replies.parse_rssi(urc.line))
    except replies.ReplyParseError:
        return SignalChanged(modem, None)


def _registration(modem: str, urc: Urc) -> RegistrationChanged:
    return RegistrationChanged(modem, replies.parse_creg(urc.line).stat)


URC_EVENTS: dict[str, Callable[[str, Urc], ModemEvent | None]] = {
    "+CMTI": _sms_stored, "+CDSI": _report_stored,        # TS 27.005 3.4.1, stored
    "+CMT": _sms_delivered, "+CDS": _status_report,       # TS 27.005 3.4.1, routed (PDU on the second line)
    "^SMMEMFULL": _storage_full,                          # Huawei: SMS storage full
    "^RSSI": _signal,                                     # Huawei: signal, +CSQ scale
    # Registration for SMS: circuit-switched (TS 27.007 7.2) or EPS (10.1.22). +CGREG is left out on purpose:
    # packet-domain registration says nothing about SMS over CS/IMS.
    "+CREG": _registration, "+CEREG": _registration,
}
