"""SMS PDU codec: the TPDU layer of 3GPP TS 23.040 in PDU mode (TS 27.005 3.5.1). Pure: no I/O, no asyncio.

Interface (docs/interfaces.md):

* ``plan(text) -> SmsPlan``: encoding and the per-part texts (TS 23.038 alphabet choice, TS 23.040 9.2.3.24.1).
* ``encode_submit(destination, text, ...) -> list[SubmitPart]``: one SMS-SUBMIT per part, ready for AT+CMGS.
* ``decode_deliver`` / ``decode_status_report`` (modem side), ``decode_submit`` / ``encode_deliver`` /
  ``encode_status_report`` (simulator side), ``decode_any`` (dispatch on TP-MTI, for AT+CMGL sweeps).
* ``validity_octet(seconds)`` / ``validity_seconds(vp)``: relative TP-VP (TS 23.040 9.2.3.12.1), rounded down
  (never longer than asked; 5 minutes, the shortest, below that).
* ``join_user_data(parts)``: a concatenated message's text from its received parts' user data, decoded as one
  stream (a character split between parts is whole again).
* ``tpdu_length``: when given and equal to the number of octets, the hex has no SMSC field (some modems omit it
  in +CDS); otherwise the SMSC length octet is read first (TS 27.005 3.5.1 says it is always there).

Everything malformed raises ``PduError`` (a ValueError) with a message saying what and where; never IndexError.
The layers under this one: ``modemd.codec.gsm7`` (the 7-bit alphabet, septet packing), ``fields`` (octet reader,
SMSC field, addresses, timestamps, validity, DCS), ``parts`` (alphabet choice and part planning), ``userdata``
(TP-UD with its header, concatenation and national shift IEs). Their public names used elsewhere are re-exported
here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .fields import (MAX_ADDRESS_DIGITS, MIN_VALIDITY, Alphabet, PduError, dcs_alphabet, encode_address,
                     encode_smsc, encode_timestamp, open_pdu, read_address, read_timestamp, validity_octet,
                     validity_seconds)
from .parts import (CONCAT8_LIMIT, CONCAT16_LIMIT, MAX_PARTS, SINGLE_LIMIT, Encoding, SmsPlan, plan,
                    plan_with_limits)
from .userdata import (Concat, PartData, encode_user_data, join_user_data, national_shift, parse_concat, part_headers,
                       read_user_data)

__all__ = ["plan", "encode_submit", "decode_submit", "encode_deliver", "decode_deliver", "encode_status_report",
           "decode_status_report", "decode_any", "validity_octet", "validity_seconds", "MIN_VALIDITY", "PduError",
           "Concat", "national_shift", "PartData", "join_user_data",
           "SubmitPart", "SmsPlan", "Submit", "Deliver", "StatusReport", "Encoding", "Alphabet", "SINGLE_LIMIT",
           "CONCAT8_LIMIT", "CONCAT16_LIMIT", "MAX_PARTS", "MAX_ADDRESS_DIGITS", "MTI_DELIVER", "MTI_SUBMIT",
           "MTI_STATUS_REPORT"]

# TS 23.040 9.2.3.1 TP-MTI values, as seen by the MS (SC -> MS for 0 and 2, MS -> SC for 1).
MTI_DELIVER, MTI_SUBMIT, MTI_STATUS_REPORT = 0, 1, 2


@dataclass(frozen=True)
class SubmitPart:
    hex: str  # what goes after the "> " prompt: SMSC field ("00" = use the SIM's) + TPDU, uppercase hex
    tpdu_length: int  # the <length> for AT+CMGS: TPDU octets, SMSC field excluded (TS 27.005 3.5.1)
    text: str  # the part of the user text this PDU carries


@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT (TS 23.040 9.2.2.2)."""

    destination: str
    text: str
    concat: Concat | None
    status_report: bool  # TP-SRR
    validity: int | None  # seconds, from a relative TP-VP; None when absent or not relative
    dcs: int
    encoding: Alphabet
    message_reference: int
    data: bytes  # user data without the header: septet values for gsm7, octets otherwise
    smsc: str | None = None
    pid: int = 0
    reject_duplicates: bool = False  # TP-RD
    validity_format: int = 0  # TP-VPF: 0 none, 1 enhanced, 2 relative, 3 absolute (9.2.3.3)


@dataclass(frozen=True)
class Deliver:
    """A decoded SMS-DELIVER (TS 23.040 9.2.2.1)."""

    originator: str  # "+4477...", national digits, or alphanumeric text (TON 101)
    text: str  # 8-bit data is shown byte for byte as latin-1
    timestamp: datetime | None  # TP-SCTS, timezone-aware; None if the network sent an invalid date
    concat: Concat | None
    dcs: int
    encoding: Alphabet
    data: bytes  # user data without the header: septet values for gsm7, octets otherwise
    smsc: str | None = None
    pid: int = 0
    message_class: int | None = None
    status_report_indication: bool = False  # TP-SRI
    more_messages: bool = False  # TP-MMS = 0 means "more messages are waiting"
    udh: bytes = b""  # the raw information elements (without UDHL), for IEs we do not interpret


@dataclass(frozen=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT (TS 23.040 9.2.2.3); TP-ST meanings in 9.2.3.15."""

    message_reference: int
    recipient: str
    sc_timestamp: datetime | None
    discharge_time: datetime | None
    status: int
    smsc: str | None = None
    command_report: bool = False  # TP-SRQ: report of an SMS-COMMAND rather than an SMS-SUBMIT

    @property
    def delivered(self) -> bool:
        """0x00: short message received by the SME."""
        return self.status == 0x00

    @property
    def completed(self) -> bool:
        """0x00-0x1F: transaction completed (0x01 forwarded but unconfirmed, 0x02 replaced, 0x10-0x1F SC-specific)."""
        return self.status <= 0x1F

    @property
    def pending(self) -> bool:
        """0x20-0x3F: temporary error, the SC is still trying to transfer the message."""
        return 0x20 <= self.status <= 0x3F

    @property
    def is_final(self) -> bool:
        """No further report will change the outcome: completed (0x00-0x1F) or failed (0x40-0x7F, reserved)."""
        return not self.pending

    @property
    def failed(self) -> bool:
        """0x40-0x7F: permanent error, or temporary error with no further attempts (values >0x7F reserved)."""
        return self.status >= 0x40


# ------------------------------------------------------------------------------------------------ SMS-SUBMIT


def encode_submit(destination: str, text: str, *, status_report: bool = True, validity: int | None = None,
                  concat_ref: int = 0, smsc: str | None = None) -> list[SubmitPart]:
    """One SMS-SUBMIT (TS 23.040 9.2.2.2) per part of plan(text). TP-MR is 00: the modem assigns it."""
    address = encode_address(destination, "destination")
    if not 0 <= concat_ref <= 255:
        raise PduError(f"concat_ref must be 0-255, got {concat_ref}")
    smsc_field = encode_smsc(smsc)
    vp = b"" if validity is None else bytes([validity_octet(validity)])
    sms = plan(text)
    headers = part_headers(len(sms.parts), concat_ref)
    parts = []
    for part, udh in zip(sms.parts, headers):
        # 9.2.3.1-9.2.3.23: TP-MTI=01, TP-RD=0, TP-VPF=10 if VP, TP-SRR, TP-UDHI; TP-RP=0
        first = 0x01 | (0x10 if vp else 0) | (0x20 if status_report else 0) | (0x40 if udh else 0)
        dcs = 0x00 if sms.encoding == "gsm7" else 0x08
        tpdu = bytes([first, 0x00]) + address + bytes([0x00, dcs]) + vp
        tpdu += encode_user_data(part, sms.encoding, udh)
        parts.append(SubmitPart((smsc_field + tpdu).hex().upper(), len(tpdu), part))
    return parts


def decode_submit(hex: str, tpdu_length: int | None = None) -> Submit:  # noqa: A002 - name from the interface
    smsc, reader = open_pdu(hex, tpdu_length)
    first = reader.u8("first octet")
    if first & 0x03 != MTI_SUBMIT:
        raise PduError(f"not an SMS-SUBMIT: TP-MTI={first & 0x03}")
    mr = reader.u8("TP-MR")
    destination = read_address(reader, "TP-DA")
    pid, dcs = reader.u8("TP-PID"), reader.u8("TP-DCS")
    vpf = (first >> 3) & 0x03
    validity = None
    if vpf == 2:
        validity = validity_seconds(reader.u8("TP-VP"))
    elif vpf:  # enhanced (01) or absolute (11): 7 octets, 9.2.3.12.2/3
        reader.take(7, "TP-VP")
    alphabet, _ = dcs_alphabet(dcs)
    udh, data, text = read_user_data(reader, alphabet, bool(first & 0x40))
    return Submit(destination, text, parse_concat(udh), bool(first & 0x20), validity, dcs, alphabet, mr, data,
                  smsc, pid, bool(first & 0x04), vpf)


# ----------------------------------------------------------------------------------------------- SMS-DELIVER


def encode_deliver(originator: str, text: str, *, timestamp: datetime, concat_ref: int = 0,
                   smsc: str = "+15555550000", concat16: bool = False) -> list[str]:
    """One SMS-DELIVER (TS 23.040 9.2.2.1) hex per part, SMSC field first. The originator may be alphanumeric.

    concat16 uses the 16-bit reference IE (9.2.3.24.8); concat_ref may then be 0-65535."""
    address = encode_address(originator, "originator", alphanumeric=True)
    if not 0 <= concat_ref <= (0xFFFF if concat16 else 0xFF):
        raise PduError(f"concat_ref {concat_ref} out of range")
    sms = plan_with_limits(text, CONCAT16_LIMIT if concat16 else CONCAT8_LIMIT)
    headers = part_headers(len(sms.parts), concat_ref, 16 if concat16 else 8)
    head = encode_smsc(smsc)
    scts = encode_timestamp(timestamp)
    out = []
    for part, udh in zip(sms.parts, headers):
        first = 0x00 | 0x04 | (0x40 if udh else 0)  # TP-MTI=00, TP-MMS=1 (no more messages), TP-UDHI
        dcs = 0x00 if sms.encoding == "gsm7" else 0x08
        tpdu = bytes([first]) + address + bytes([0x00, dcs]) + scts + encode_user_data(part, sms.encoding, udh)
        out.append((head + tpdu).hex().upper())
    return out


def decode_deliver(hex: str, tpdu_length: int | None = None) -> Deliver:  # noqa: A002 - name from the interface
    smsc, reader = open_pdu(hex, tpdu_length)
    first = reader.u8("first octet")
    if first & 0x03 != MTI_DELIVER:
        raise PduError(f"not an SMS-DELIVER: TP-MTI={first & 0x03}")
    originator = read_address(reader, "TP-OA")
    pid, dcs = reader.u8("TP-PID"), reader.u8("TP-DCS")
    timestamp = read_timestamp(reader, "TP-SCTS")
    alphabet, message_class = dcs_alphabet(dcs)
    udh, data, text = read_user_data(reader, alphabet, bool(first & 0x40))
    return Deliver(originator, text, timestamp, parse_concat(udh), dcs, alphabet, data, smsc, pid, message_class,
                   bool(first & 0x20), not first & 0x04, udh)


# ----------------------------------------------------------------------------------------- SMS-STATUS-REPORT


def encode_status_report(message_reference: int, recipient: str, *, status: int, sc_timestamp: datetime,
                         discharge_time: datetime, smsc: str | None = "+15555550000") -> str:
    """SMS-STATUS-REPORT (TS 23.040 9.2.2.3), SMSC field first ("00" when smsc is None)."""
    if not 0 <= message_reference <= 255 or not 0 <= status <= 255:
        raise PduError("message_reference and status must be 0-255")
    address = encode_address(recipient, "recipient")
    tpdu = bytes([0x06, message_reference]) + address  # TP-MTI=10, TP-MMS=1, TP-SRQ=0 (report of a SUBMIT)
    tpdu += encode_timestamp(sc_timestamp) + encode_timestamp(discharge_time) + bytes([status])
    return (encode_smsc(smsc) + tpdu).hex().upper()


def decode_status_report(hex: str, tpdu_length: int | None = None) -> StatusReport:  # noqa: A002
    smsc, reader = open_pdu(hex, tpdu_length)
    first = reader.u8("first octet")
    if first & 0x03 != MTI_STATUS_REPORT:
        raise PduError(f"not an SMS-STATUS-REPORT: TP-MTI={first & 0x03}")
    mr = reader.u8("TP-MR")
    recipient = read_address(reader, "TP-RA")
    scts = read_timestamp(reader, "TP-SCTS")
    discharge = read_timestamp(reader, "TP-DT")
    status = reader.u8("TP-ST")
    # Optional TP-PI / PID / DCS / UD may follow (9.2.2.3); nothing we need is in them.
    return StatusReport(mr, recipient, scts, discharge, status, smsc, bool(first & 0x20))


def decode_any(hex: str, tpdu_length: int | None = None) -> Deliver | Submit | StatusReport:  # noqa: A002
    """Dispatch on TP-MTI (TS 23.040 9.2.3.1), e.g. for messages listed by AT+CMGL=4 (stored SUBMITs included)."""
    _, reader = open_pdu(hex, tpdu_length)
    mti = reader.peek("first octet") & 0x03
    if mti == MTI_DELIVER:
        return decode_deliver(hex, tpdu_length)
    if mti == MTI_SUBMIT:
        return decode_submit(hex, tpdu_length)
    if mti == MTI_STATUS_REPORT:
        return decode_status_report(hex, tpdu_length)
    raise PduError("reserved TP-MTI 3")
