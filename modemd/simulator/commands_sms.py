"""TS 27.005 SMS commands: settings (3.2), storage and reading (3.2.2, 3.4.2-3.5.4). Sending: commands_send."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..codec import pdu

from . import textmode
from .commands_basic import Result, bad_parameters, flag
from .parser import READ, SET, TEST
from .results import SIM_STATE_CMS, CmsFailure, PlainError
from .state import REC_READ, REC_UNREAD, STAT_NAMES, StoredSms



@dataclass
class Prompt:
    text_mode: bool
    complete: Callable[[object, bytes], Result]
    data: bytearray = field(default_factory=bytearray)


def require_sms_sim(d) -> None:
    """SMS commands report SIM problems as +CMS ERROR 310-316 (27.005 3.2.5), not +CME."""
    if d.sim.state != "READY":
        raise CmsFailure(SIM_STATE_CMS[d.sim.state])


def tpdu_length(hex_pdu: str) -> int:
    return len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)


def _setting(attr: str, low: int, high: int, label: str):
    def handler(d, c):
        if c.form == READ:
            return [f"{c.name}: {getattr(d.settings, attr)}"]
        if c.form == TEST:
            return [f"{c.name}: {label}"]
        if c.form == SET:
            setattr(d.settings, attr, flag(c, low, high))
            return
        raise PlainError()
    return handler


# ---------------------------------------------------------------------------------------- settings
def _cscs(d, c):
    if c.form == READ:
        return [f'+CSCS: "{d.settings.cscs}"']
    if c.form == TEST:
        return ["+CSCS: (" + ",".join(f'"{n}"' for n in textmode.CHARSETS) + ")"]
    name = (c.str_arg(0) or "").upper()
    if name not in textmode.CHARSETS:
        raise bad_parameters()
    d.settings.cscs = name


def _csca(d, c):
    if c.form == READ:
        require_sms_sim(d)
        return [f'+CSCA: "{d.sim.smsc}",{textmode.address_type(d.sim.smsc)}']
    if c.form == SET and c.str_arg(0):
        require_sms_sim(d)
        d.sim.smsc = c.str_arg(0)       # stored on the SIM (EF_SMSP), survives a reset
        return
    if c.form == TEST:
        return []
    raise CmsFailure(302)


def _csms(d, c):
    if c.form == READ:
        return [f"+CSMS: {d.settings.csms},1,1,1"]
    if c.form == TEST:
        return ["+CSMS: (0,1)"]
    d.settings.csms = flag(c)
    return ["+CSMS: 1,1,1"]


def _cpms(d, c):
    storage = d.sim.storage
    used = storage.capacity if d.faults.storage_full else storage.used()
    if c.form == TEST:
        return ['+CPMS: ("SM"),("SM"),("SM")']
    require_sms_sim(d)
    if c.form == READ:
        return [f'+CPMS: "SM",{used},{storage.capacity},"SM",{used},{storage.capacity},'
                f'"SM",{used},{storage.capacity}']
    if c.form != SET or any(m is not None and m.upper() != "SM" for m in c.args):
        raise CmsFailure(302)            # only the SIM store exists here
    # TS 27.005 3.2.2: the set command answers with all three stores, however many it was given
    # (EC25: AT+CPMS="SM","SM" -> +CPMS: 0,50,0,50,0,50).
    return ["+CPMS: " + ",".join(f"{used},{storage.capacity}" for _ in range(3))]


def _cnmi(d, c):
    if not d.profile.announces_sms:
        raise PlainError()
    if c.form == READ:
        return ["+CNMI: " + ",".join(map(str, d.settings.cnmi))]
    if c.form == TEST:
        return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"]
    values = [c.int_arg(i, default) for i, default in enumerate(d.settings.cnmi)]
    limits = (2, 3, 2, 2, 1)
    if c.form != SET or len(c.args) > 5 or any(not 0 <= v <= hi for v, hi in zip(values, limits)):
        raise CmsFailure(303)
    d.settings.cnmi = tuple(values)
    _release_held(d, values[0], values[4])


def _release_held(d, mode: int, bfr: int) -> None:
    """27.005 3.4.1: entering mode 1/2 flushes the TA buffer (bfr 0) or clears it (bfr 1)."""
    if mode == 0:
        return
    if bfr == 0:
        d.urcs.extend(d.held_urcs)
    d.held_urcs.clear()


def _csmp(d, c):
    if c.form == READ:
        return ["+CSMP: " + ",".join(map(str, d.settings.csmp))]
    if c.form == TEST:
        return []
    d.settings.csmp = tuple(c.int_arg(i, old) for i, old in enumerate(d.settings.csmp))


def _cnma(d, c):
    """27.005 3.4.4: acknowledge a routed +CMT/+CDS; only expected with AT+CSMS=1."""
    if c.form == TEST:
        return ["+CNMA: (0-2)"] if d.settings.cmgf == 0 else []
    if d.settings.csms != 1 or d.pending_acks == 0:
        raise CmsFailure(340)
    d.pending_acks -= 1


# ---------------------------------------------------------------------------------------- reading
def _parse_stat(d, c, default: int) -> int:
    raw = c.str_arg(0)
    if raw is None:
        return default
    if d.settings.cmgf == 0:
        if not raw.isdigit() or int(raw) > 4:
            raise CmsFailure(304)
        return int(raw)
    if raw.upper() not in STAT_NAMES:
        raise CmsFailure(305)
    return STAT_NAMES.index(raw.upper())


def _entry_lines(d, prefix: str, index: int | None, sms: StoredSms) -> list[str]:
    """PDU mode: "+CMGL: <index>,<stat>,,<length>" / "+CMGR: <stat>,,<length>" then the hex (27.005 3.4.2/3.4.3)."""
    lead = f"{index}," if index is not None else ""
    if d.settings.cmgf == 0:
        return [f"{prefix}: {lead}{sms.stat},,{sms.tpdu_length}", sms.pdu]
    return _text_entry(d, prefix, lead, sms)


def _text_entry(d, prefix: str, lead: str, sms: StoredSms) -> list[str]:
    decoded = pdu.decode_any(sms.pdu, sms.tpdu_length)
    stat, cscs, csdh = STAT_NAMES[sms.stat], d.settings.cscs, d.settings.csdh
    if isinstance(decoded, pdu.StatusReport):
        return [f'{prefix}: {lead}"{stat}",{textmode.report_fields(decoded)}']
    if isinstance(decoded, pdu.Submit):
        header = textmode.submit_header(prefix, stat, decoded, csdh)
    else:
        header = textmode.deliver_header(prefix, stat, decoded, csdh, decoded.smsc)
    header = header.replace(f"{prefix}: ", f"{prefix}: {lead}", 1)
    return [header, textmode.te_encode(decoded.text, cscs)]


def _cmgl(d, c):
    if c.form == TEST:
        if d.settings.cmgf == 0:
            return ["+CMGL: (0-4)"]
        return ["+CMGL: (" + ",".join(f'"{n}"' for n in STAT_NAMES) + ")"]
    require_sms_sim(d)
    wanted = _parse_stat(d, c, REC_UNREAD)
    keep_status = c.int_arg(1, 0) == 1          # Quectel <mode> 1: list without marking as read
    lines = []
    for index, sms in sorted(d.sim.storage.slots.items()):
        if wanted == 4 or sms.stat == wanted:
            lines += _entry_lines(d, "+CMGL", index, sms)
            _mark_read(sms, keep_status)
    return lines


def _mark_read(sms: StoredSms, keep_status: bool) -> None:
    """27.005 3.4.2: listing or reading a "received unread" message makes it "received read"."""
    if sms.stat == REC_UNREAD and not keep_status:
        sms.stat = REC_READ


def _cmgr(d, c):
    if c.form == TEST:
        return []
    require_sms_sim(d)
    index = c.int_arg(0)
    if index is None or not d.sim.storage.valid_index(index):
        raise CmsFailure(321)
    sms = d.sim.storage.slots.get(index)
    if sms is None:
        return []                                # EC25: an empty location reads as just OK
    lines = _entry_lines(d, "+CMGR", None, sms)
    _mark_read(sms, c.int_arg(1, 0) == 1)
    return lines


def _cmgd(d, c):
    storage = d.sim.storage
    if c.form == TEST:
        used = ",".join(map(str, sorted(storage.slots)))
        return [f"+CMGD: ({used}),(0-4)"]
    require_sms_sim(d)
    index, delflag = c.int_arg(0), c.int_arg(1, 0)
    if delflag not in range(5) or (delflag == 0 and (index is None or not storage.valid_index(index))):
        raise CmsFailure(321)
    if delflag:
        storage.delete_by_flag(delflag)
    else:
        storage.slots.pop(index, None)           # deleting an empty location is OK on EC25


HANDLERS = {
    "+CMGF": _setting("cmgf", 0, 1, "(0,1)"), "+CSDH": _setting("csdh", 0, 1, "(0,1)"),
    "+CGSMS": _setting("cgsms", 0, 3, "(0-3)"),
    "+CSCS": _cscs, "+CSCA": _csca, "+CSMS": _csms, "+CPMS": _cpms, "+CNMI": _cnmi, "+CSMP": _csmp,
    "+CNMA": _cnma, "+CMGL": _cmgl, "+CMGR": _cmgr, "+CMGD": _cmgd,
}
