"""PDU fields below the TPDU layer (3GPP TS 23.040 9.1.2, 9.2.3): the octet reader, the SMSC field, addresses,
timestamps, relative validity and the data coding scheme. Pure: no I/O, no asyncio.

Everything malformed raises ``PduError`` (a ValueError) with a message saying what and where; never IndexError.
``pdu.py`` builds the SMS-SUBMIT / SMS-DELIVER / SMS-STATUS-REPORT codec on these.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone
from typing import Literal

from . import gsm7

Alphabet = Literal["gsm7", "8bit", "ucs2"]

MAX_ADDRESS_DIGITS = 20  # TS 23.040 9.1.2.5: address value up to 10 octets of semi-octets

# TS 23.040 9.1.2.5: semi-octet values 0-9, then '*', '#', 'a', 'b', 'c'; 0xF is the filler.
_BCD_DIGITS = "0123456789*#abc"


class PduError(ValueError):
    """A PDU that cannot be encoded or decoded: malformed hex, truncated, bad address, unsupported value."""


# --------------------------------------------------------------------------------------- octet-level helpers


class Reader:
    """A cursor over PDU octets that raises PduError (never IndexError) when data runs out."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise PduError(f"PDU truncated: {what} needs {n} octet(s) at offset {self.pos}, "
                           f"{len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def peek(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(f"PDU truncated: {what} missing at offset {self.pos}")
        return self.data[self.pos]


def from_hex(hex_pdu: str) -> bytes:
    text = hex_pdu.strip()
    if not text:
        raise PduError("empty PDU")
    if len(text) % 2:
        raise PduError(f"PDU hex has odd length {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise PduError("PDU is not hexadecimal") from None


def open_pdu(hex_pdu: str, tpdu_length: int | None) -> tuple[str | None, Reader]:
    """Parse the optional SMSC field (TS 27.005 3.5.1) and return a reader positioned on the TPDU."""
    reader = Reader(from_hex(hex_pdu))
    if tpdu_length is not None and len(reader.data) == tpdu_length:
        return None, reader
    return read_smsc(reader), reader


# ------------------------------------------------------------------------------------------------ addresses


def _digits(number: str, what: str) -> tuple[bool, str]:
    """Validate "+digits" / "digits"; returns (international, digits)."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not (1 <= len(digits) <= MAX_ADDRESS_DIGITS and all(c in "0123456789" for c in digits)):
        # The value itself is not repeated: exception texts reach logs, and numbers must not (masked or not at all).
        raise PduError(f"{what} must be 1-{MAX_ADDRESS_DIGITS} digits after an optional '+' "
                       f"(got {len(number)} characters)")
    return international, digits


def _semi_octets(digits: str) -> bytes:
    """TS 23.040 9.1.2.3: digits in swapped nibble order, an odd count padded with 0xF."""
    padded = digits + "F" * (len(digits) % 2)
    return bytes.fromhex("".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2)))


def _unsemi(raw: bytes) -> str:
    nibbles = [n for b in raw for n in (b & 0x0F, b >> 4)]
    return "".join(_BCD_DIGITS[n] for n in nibbles if n != 0xF)


def encode_address(number: str, what: str, *, alphanumeric: bool = False) -> bytes:
    """TS 23.040 9.1.2.5 address: length in semi-octets, type (0x91 international, 0x81 national), value."""
    if alphanumeric and not (number.lstrip("+").isascii() and number.lstrip("+").isdigit()):
        return _encode_alphanumeric(number, what)
    international, digits = _digits(number, what)
    return bytes([len(digits), 0x91 if international else 0x81]) + _semi_octets(digits)


def _encode_alphanumeric(name: str, what: str) -> bytes:
    """TON 101 (0xD0): GSM 7-bit packed, length = semi-octets actually used (TS 23.040 9.1.2.5)."""
    try:
        septets = gsm7.encode(name)
    except gsm7.Gsm7Error as exc:
        raise PduError(f"{what} {name!r}: {exc}") from None
    if not 1 <= len(septets) <= 11:
        raise PduError(f"{what} {name!r}: alphanumeric address must be 1-11 septets")
    return bytes([(len(septets) * 7 + 3) // 4, 0xD0]) + gsm7.pack(septets)


def read_address(reader: Reader, what: str) -> str:
    length = reader.u8(f"{what} length")
    kind = reader.u8(f"{what} type")
    ton = (kind >> 4) & 0x07
    raw = reader.take((length + 1) // 2, what)
    if ton == 0b111:
        raise PduError(f"{what}: reserved type of number in type octet 0x{kind:02X}")
    if ton == 0b101:  # alphanumeric, GSM 7-bit packed; the semi-octet count bounds the septets
        return gsm7.decode(gsm7.unpack(raw, length * 4 // 7))
    digits = _unsemi(raw)[:length]
    return "+" + digits if ton == 0b001 else digits


def encode_smsc(smsc: str | None) -> bytes:
    """TS 24.011 8.2.5.1 RP address as used in the PDU-mode SMSC field; 00 = use the SIM's (TS 27.005 3.5.1)."""
    if smsc is None:
        return b"\x00"
    _, digits = _digits(smsc, "SMSC")
    body = bytes([0x91]) + _semi_octets(digits)  # SMSC numbers are international (+CSCA type 145)
    return bytes([len(body)]) + body


def read_smsc(reader: Reader) -> str | None:
    length = reader.u8("SMSC length")
    if length == 0:
        return None
    if length > 11:
        raise PduError(f"SMSC length {length} exceeds 11 octets")
    kind = reader.u8("SMSC type")
    digits = _unsemi(reader.take(length - 1, "SMSC address"))
    return "+" + digits if (kind >> 4) & 0x07 == 0b001 else digits


# ------------------------------------------------------------------------------------- time, validity, DCS


def _bcd_swapped(octet: int) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise ValueError(f"invalid semi-octet 0x{octet:02X}")
    return low * 10 + high


def read_timestamp(reader: Reader, what: str) -> datetime | None:
    """TS 23.040 9.2.3.11: YY MM DD hh mm ss TZ, swapped semi-octets; TZ in quarter hours, bit 3 = negative.

    An invalid date gives None: losing an inbound SMS over a bad network clock would be worse."""
    raw = reader.take(7, what)
    try:
        yy, mo, dd, hh, mi, ss = (_bcd_swapped(b) for b in raw[:6])
        quarters = _bcd_swapped(raw[6] & 0xF7)
        sign = -1 if raw[6] & 0x08 else 1
        tz = timezone(timedelta(minutes=15 * quarters * sign))
        return datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=tz)
    except ValueError:
        return None


def encode_timestamp(moment: datetime) -> bytes:
    offset = moment.utcoffset() or timedelta(0)  # a naive datetime is taken as UTC
    quarters = round(offset.total_seconds() / 900)
    if not 2000 <= moment.year <= 2099 or abs(quarters) > 79:
        raise PduError(f"timestamp {moment.isoformat()} cannot be represented in TP-SCTS")
    fields = [moment.year - 2000, moment.month, moment.day, moment.hour, moment.minute, moment.second]
    swapped = [(v % 10) << 4 | v // 10 for v in fields]
    tz = (abs(quarters) % 10) << 4 | abs(quarters) // 10 | (0x08 if quarters < 0 else 0)
    return bytes(swapped + [tz])


def validity_seconds(vp: int) -> int:
    """TS 23.040 9.2.3.12.1: relative TP-VP octet -> seconds."""
    if vp <= 143:
        return (vp + 1) * 5 * 60  # 5-minute steps up to 12 hours
    if vp <= 167:
        return 12 * 3600 + (vp - 143) * 30 * 60  # 30-minute steps up to 24 hours
    if vp <= 196:
        return (vp - 166) * 86400  # days, 2 to 30
    return (vp - 192) * 7 * 86400  # weeks, 5 to 63


# Every relative TP-VP's period, in seconds: strictly increasing, so a bisection finds the one for a duration.
_VP_SECONDS = [validity_seconds(vp) for vp in range(256)]
MIN_VALIDITY = _VP_SECONDS[0]        # 5 minutes: nothing shorter can be said in the relative format


def validity_octet(seconds: int) -> int:
    """Seconds -> the longest relative TP-VP that is not longer (rounded DOWN), clamped to 5 minutes .. 63 weeks.

    Down, because the validity period tells the SC how long it may keep trying: a code that lives 420 s must not be
    handed over with 600 s (the SC could deliver it after it died), and a plain SMS with a ttl must not arrive
    after it. Below 5 minutes no relative value is short enough and 0 (5 minutes, the shortest) is used: see
    services.outbox.network_validity for what the outbox does about an OTP with less than that left."""
    if seconds < 0:
        raise PduError(f"validity must be >= 0 seconds, got {seconds}")
    return max(0, bisect.bisect_right(_VP_SECONDS, seconds) - 1)


def dcs_alphabet(dcs: int) -> tuple[Alphabet, int | None]:
    """TS 23.038 4: (alphabet, message class). Reserved codings are assumed to be GSM 7-bit, as 23.038 says."""
    group = dcs >> 4
    if group <= 0x7:  # 00xx general data coding, 01xx automatic deletion group
        if dcs & 0x20:  # compressed: we cannot decompress, hand the octets over as 8-bit data
            return "8bit", (dcs & 0x03) if dcs & 0x10 else None
        alphabet: Alphabet = ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
        return alphabet, (dcs & 0x03) if dcs & 0x10 else None
    if group == 0xE:  # message waiting indication, store message, UCS-2
        return "ucs2", None
    if group == 0xF:  # data coding / message class
        return ("8bit" if dcs & 0x04 else "gsm7"), dcs & 0x03
    return "gsm7", None  # 1000-1011 reserved, 1100/1101 message waiting (discard / store), GSM 7-bit
