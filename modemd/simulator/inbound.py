"""SMS from the network to the modem: SMS-DELIVER and SMS-STATUS-REPORT, stored or routed per AT+CNMI (pure).

TS 27.005 3.4.1: <mt> 0 store silently, 1 store and send +CMTI: <mem>,<index>, 2 route as +CMT (3: class 3
routed; we have no classes, so 3 behaves as 1); <ds> 1 routes +CDS, 2 stores and sends +CDSI.
A message the ME cannot store (memory full) is refused; the network keeps it and tries again once there is room
(TS 24.011 RP-ERROR cause 22 "memory capacity exceeded", then SMMA), which `retry_network_queue` models.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..codec import pdu

from . import textmode
from .state import REC_UNREAD, StoredSms


@dataclass
class Pending:
    hex: str
    tpdu_length: int
    route: bool
    kind: str = "deliver"               # "deliver" | "report"


def _length(hex_pdu: str) -> int:
    return len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)


def delivery_order(total: int, order: list[int] | None, duplicate: int | None) -> list[int]:
    """1-based part numbers in arrival order; `order` may leave parts out (lost), `duplicate` repeats one."""
    sequence = list(order) if order else list(range(1, total + 1))
    if any(not 1 <= n <= total for n in sequence) or (duplicate is not None and not 1 <= duplicate <= total):
        raise ValueError(f"part numbers must be 1..{total}")
    return sequence + ([duplicate] if duplicate is not None else [])


def inject_sms(d, sender: str, text: str, *, store: bool = True, order: list[int] | None = None,
               duplicate: int | None = None, timestamp: datetime | None = None) -> list[int]:
    """Encode with the PDU codec and hand each part to the ME; returns the storage indices used (announced by
    +CMTI). store=False routes as +CMT whatever CNMI says (a class 0 style direct display)."""
    d.concat_ref = (d.concat_ref + 1) % 256
    parts = pdu.encode_deliver(sender, text, timestamp=timestamp or d.now(), concat_ref=d.concat_ref,
                               smsc=d.sim.smsc)
    indices = []
    for number in delivery_order(len(parts), order, duplicate):
        hex_pdu = parts[number - 1]
        route = not store or d.settings.cnmi[1] == 2
        index = deliver(d, Pending(hex_pdu, _length(hex_pdu), route))
        if index is not None:
            indices.append(index)
    return indices


def deliver(d, item: Pending) -> int | None:
    if item.route:
        _route(d, item)
        return None
    index = None if d.faults.storage_full else d.sim.storage.store(StoredSms(REC_UNREAD, item.hex, item.tpdu_length))
    if index is None:
        d.network_queue.append(item)
        d.queue_urc(['+QIND: "smsfull","SM"'])      # EC25 (AT+QINDCFG="smsfull") tells the host
        return None
    announce = item.kind == "report" or d.settings.cnmi[1] in (1, 3)
    if announce:
        name = "+CDSI" if item.kind == "report" else "+CMTI"
        d.queue_urc([f'{name}: "SM",{index}'], sms=True)
    return index


def _route(d, item: Pending) -> None:
    """+CMT: [<alpha>],<length><CR><LF><pdu> / +CDS: <length><CR><LF><pdu> in PDU mode (27.005 3.4.1)."""
    if d.settings.cmgf == 0:
        head = "+CDS: " if item.kind == "report" else "+CMT: ,"
        lines = [f"{head}{item.tpdu_length}", item.hex]
    else:
        lines = _route_text(d, item)
    d.queue_urc(lines, sms=True)
    if d.settings.csms == 1:
        d.pending_acks += 1                         # phase 2+: the TE must answer with AT+CNMA


def _route_text(d, item: Pending) -> list[str]:
    decoded = pdu.decode_any(item.hex, item.tpdu_length)
    if item.kind == "report":
        return [f"+CDS: {textmode.report_fields(decoded)}"]
    header = textmode.deliver_header("+CMT", None, decoded, d.settings.csdh, decoded.smsc)
    return [header, textmode.te_encode(decoded.text, d.settings.cscs)]


def retry_network_queue(d) -> None:
    """The SC retries refused messages once the ME has room again (after AT+CMGD or the fault cleared)."""
    if not d.network_queue or d.faults.storage_full:
        return
    waiting, d.network_queue = d.network_queue, []
    for item in waiting:
        deliver(d, item)


def inject_status_report(d, message_reference: int, recipient: str, status: int = 0,
                         timestamp: datetime | None = None) -> int | None:
    """SMS-STATUS-REPORT for an earlier TP-MR: +CDS (ds=1), stored + +CDSI (ds=2), dropped (ds=0)."""
    now = timestamp or d.now()
    hex_pdu = pdu.encode_status_report(message_reference % 256, recipient, status=status, sc_timestamp=now,
                                       discharge_time=now, smsc=d.sim.smsc)
    ds = d.settings.cnmi[3]
    if ds == 0:
        return None                                 # TE did not ask for reports (27.005 3.4.1 <ds>=0)
    return deliver(d, Pending(hex_pdu, _length(hex_pdu), route=(ds == 1), kind="report"))
