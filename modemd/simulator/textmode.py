"""TS 27.005 text mode (AT+CMGF=1): TE character sets (27.007 5.5 +CSCS) and the header lines of 27.005 3.4.1,
3.4.3, 3.5.1 (pure). Output strings are latin-1-encodable: one char per byte on the wire."""
from __future__ import annotations

import binascii
from datetime import datetime

from ..codec import gsm7, pdu

CHARSETS = ("GSM", "IRA", "UCS2")        # what EC25 lists for AT+CSCS=?


def te_decode(data: bytes, cscs: str) -> str:
    """Bytes the TE typed -> text. "GSM": one byte per septet (0x1B + code for € [ ] ...); "UCS2": hex UTF-16BE."""
    if cscs == "UCS2":
        try:
            return binascii.unhexlify(data.strip()).decode("utf-16-be")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("bad UCS2 hex") from exc
    if cscs == "GSM":
        return gsm7.decode(list(b & 0x7F for b in data))
    return data.decode("ascii", "replace")


def te_encode(text: str, cscs: str) -> str:
    """Text -> what the TA prints in cscs, as a latin-1 string."""
    if cscs == "UCS2":
        return text.encode("utf-16-be").hex().upper()
    if cscs == "GSM":
        septets = gsm7.encode("".join(ch if gsm7.char_septets(ch) else "?" for ch in text))
        return "".join(chr(s) for s in septets)
    return text.encode("ascii", "replace").decode("ascii")


def address_type(address: str) -> int:
    """TS 24.008 10.5.4.7 type of address: 145 international, 129 unknown, 208 alphanumeric (TS 23.040)."""
    if address.startswith("+"):
        return 145
    return 129 if address.replace("#", "").replace("*", "").isdigit() else 208


def scts(moment: datetime | None) -> str:
    """"yy/MM/dd,hh:mm:ss±zz" with zz in quarter hours (27.005 3.1 <scts>)."""
    if moment is None:
        return ""
    offset = moment.utcoffset()
    quarters = int(offset.total_seconds() // 900) if offset else 0
    sign = "+" if quarters >= 0 else "-"
    return moment.strftime("%y/%m/%d,%H:%M:%S") + f"{sign}{abs(quarters):02d}"


def length_of(text: str, encoding: str) -> int:
    """<length> in text mode: characters for GSM 7 bit, octets otherwise (27.005 3.1)."""
    return gsm7.septet_length(text) if encoding == "gsm7" else len(text.encode("utf-16-be"))


def deliver_header(prefix: str, stat: str | None, sms: "pdu.Deliver", csdh: int, sca: str | None) -> str:
    """+CMGL / +CMGR / +CMT header for an SMS-DELIVER (27.005 3.4.2, 3.4.3, 3.4.1)."""
    head = [f'"{stat}"'] if stat else []
    head += [f'"{sms.originator}"', "", f'"{scts(sms.timestamp)}"']
    if csdh:
        head += [str(address_type(sms.originator))]
        if prefix != "+CMGL":
            head += ["4" if sms.concat is None else "68", str(sms.pid), str(sms.dcs),
                     f'"{sca or ""}"', "145"]
        head += [str(length_of(sms.text, sms.encoding))]
    return f"{prefix}: " + ",".join(head)


def submit_header(prefix: str, stat: str, sms: "pdu.Submit", csdh: int) -> str:
    head = [f'"{stat}"', f'"{sms.destination}"', ""]
    if csdh:
        head += [str(address_type(sms.destination)), str(length_of(sms.text, sms.encoding))]
    return f"{prefix}: " + ",".join(head)


def report_fields(report: "pdu.StatusReport") -> str:
    """<fo>,<mr>,"<ra>",<tora>,"<scts>","<dt>",<st> (27.005 3.4.1 +CDS text mode)."""
    return (f'6,{report.message_reference},"{report.recipient}",{address_type(report.recipient)},'
            f'"{scts(report.sc_timestamp)}","{scts(report.discharge_time)}",{report.status}')
