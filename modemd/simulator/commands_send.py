"""TS 27.005 sending and writing: AT+CMGS (3.5.1), AT+CMSS (3.5.2), AT+CMGW (3.5.3).

Two phases: the handler returns a `Prompt`; the dialect collects the data until <ctrl-Z> and calls
`Prompt.complete`, which validates the PDU, consults the faults and returns +CMGS: <mr> or +CMS ERROR.
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..codec import pdu

from . import textmode
from .actions import ReportLater, Sleep, Submitted, SubmittedPart
from .commands_basic import Result
from .commands_sms import Prompt, require_sms_sim, tpdu_length
from .parser import SET, TEST
from .results import CmsFailure
from .state import STO_UNSENT, StoredSms

_HEX = re.compile(r"[0-9A-Fa-f]*")
MAX_TPDU = 164            # longest SMS-SUBMIT TPDU: 7 fixed octets + 12 address + 7 VP - 2 + 140 UD


def _cmgs(d, c):
    if c.form == TEST:
        return []
    if c.form != SET:
        raise CmsFailure(304 if d.settings.cmgf == 0 else 305)
    require_sms_sim(d)
    if d.settings.cmgf == 0:
        length = c.int_arg(0, -1)
        if not 7 <= length <= MAX_TPDU:
            raise CmsFailure(304)
        return Prompt(False, lambda d, data: submit_pdu(d, data, length))
    address = _text_address(d, c)
    return Prompt(True, lambda d, data: submit_text(d, data, address))


def _text_address(d, c) -> str:
    address = c.str_arg(0)
    if not address:
        raise CmsFailure(305)
    if d.settings.cscs == "UCS2":
        address = textmode.te_decode(address.encode(), "UCS2")
    return address


def parse_pdu_input(data: bytes, length: int) -> str:
    """The hex typed after "> ": hex digits only, and <length> must count the TPDU without the SMSC field."""
    text = data.decode("latin-1").strip()
    if not text or not _HEX.fullmatch(text) or len(text) % 2:
        raise CmsFailure(304)
    if tpdu_length(text) != length:
        raise CmsFailure(304)
    return text.upper()


def submit_pdu(d, data: bytes, length: int) -> Result:
    hex_pdu = parse_pdu_input(data, length)
    try:
        sms = pdu.decode_submit(hex_pdu, length)
    except pdu.PduError:
        raise CmsFailure(304) from None
    concat = (sms.concat.ref, sms.concat.total, sms.concat.seq) if sms.concat else None
    part = SubmittedPart(sms.destination, sms.text, sms.encoding, concat, 0, sms.status_report,
                         sms.validity, "pdu", hex_pdu)
    return network_submit(d, part)


def submit_text(d, data: bytes, address: str) -> Result:
    try:
        text = textmode.te_decode(data, d.settings.cscs)
    except ValueError:
        raise CmsFailure(305) from None
    fo, vp, _pid, dcs = d.settings.csmp
    encoding = {0x08: "ucs2", 0x04: "8bit"}.get(dcs & 0x0C, "gsm7")
    if textmode.length_of(text, encoding) > (160 if encoding == "gsm7" else 140):
        raise CmsFailure(305)                  # one SMS only in text mode: no UDH, no concatenation
    validity = pdu.validity_seconds(vp) if (fo >> 3) & 0x03 == 2 else None
    part = SubmittedPart(address, text, encoding, None, 0, bool(fo & 0x20), validity, "text")
    return network_submit(d, part)


def network_submit(d, part: SubmittedPart) -> Result:
    """The network leg: delay, queued CMS errors, registration; success gives the TP-MR the ME assigned."""
    delay = [Sleep(d.faults.network_delay)] if d.faults.network_delay > 0 else []
    if d.registration() not in (1, 5):
        return Result([], delay, CmsFailure(331))       # no network service
    if d.faults.cms_errors:
        return Result([], delay, CmsFailure(int(d.faults.cms_errors.pop(0))))
    mr = d.sim.next_mr()                                # EC25 overwrites TP-MR with its own counter
    part = replace(part, message_reference=mr)
    effects = delay + [Submitted(part)]
    if part.status_report_requested and d.faults.auto_status_report is not None:
        effects.append(ReportLater(d.faults.auto_status_report, mr, part.to))
    return Result([f"+CMGS: {mr}"], effects)


def _cmgw(d, c):
    """AT+CMGW=<length>[,<stat>] (PDU) / AT+CMGW="<da>" (text): write to storage (27.005 3.5.3)."""
    if c.form == TEST:
        return []
    require_sms_sim(d)
    if d.settings.cmgf == 0:
        if c.form != SET:
            raise CmsFailure(304)
        length, stat = c.int_arg(0, -1), c.int_arg(1, STO_UNSENT)
        return Prompt(False, lambda d, data: _write_pdu(d, parse_pdu_input(data, length), length, stat))
    address = _text_address(d, c) if c.form == SET else ""
    return Prompt(True, lambda d, data: _write_text(d, data, address))


def _write_text(d, data: bytes, address: str) -> Result:
    text = textmode.te_decode(data, d.settings.cscs)
    hex_pdu = pdu.encode_submit(address or "0", text, status_report=False)[0].hex
    return _write_pdu(d, hex_pdu, tpdu_length(hex_pdu), STO_UNSENT)


def _write_pdu(d, hex_pdu: str, length: int, stat: int) -> Result:
    if d.faults.storage_full:
        raise CmsFailure(322)
    index = d.sim.storage.store(StoredSms(stat, hex_pdu, length))
    if index is None:
        raise CmsFailure(322)
    return Result([f"+CMGW: {index}"])


def _cmss(d, c):
    """AT+CMSS=<index>: send a stored message (27.005 3.5.2)."""
    if c.form == TEST:
        return []
    require_sms_sim(d)
    sms = d.sim.storage.slots.get(c.int_arg(0, -1))
    if sms is None:
        raise CmsFailure(321)
    result = submit_pdu(d, sms.pdu.encode(), sms.tpdu_length)
    return Result([line.replace("+CMGS", "+CMSS") for line in result.lines], result.effects, result.failure)


HANDLERS = {"+CMGS": _cmgs, "+CMGW": _cmgw, "+CMSS": _cmss}
