"""SMS PDU codec: the TPDU layer of 3GPP TS 23.040 in PDU mode (TS 27.005 3.5.1). Pure: no I/O, no asyncio.

Interface (docs/interfaces.md):

* ``plan(text) -> SmsPlan``: encoding and the per-part texts (TS 23.038 alphabet choice, TS 23.040 9.2.3.24.1).
* ``encode_submit(destination, text, ...) -> list[SubmitPart]``: one SMS-SUBMIT per part, ready for AT+CMGS.
* ``decode_deliver`` / ``decode_status_report`` (modem side), ``decode_submit`` / ``encode_deliver`` /
  ``encode_status_report`` (simulator side), ``decode_any`` (dispatch on TP-MTI, for AT+CMGL sweeps).
* ``validity_octet(seconds)`` / ``validity_seconds(vp)``: relative TP-VP (TS 23.040 9.2.3.12.1), rounded up.
* ``tpdu_length``: when given and equal to the number of octets, the hex has no SMSC field (some modems omit it
  in +CDS); otherwise the SMSC length octet is read first (TS 27.005 3.5.1 says it is always there).

Everything malformed raises ``PduError`` (a ValueError) with a message saying what and where; never IndexError.
The GSM 7-bit alphabet and septet packing live in ``modemd.gsm7``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from modemd import gsm7

Encoding = Literal["gsm7", "ucs2"]
Alphabet = Literal["gsm7", "8bit", "ucs2"]

# TS 23.040 9.2.3.24 / TS 23.038 6.1.2: a single SMS carries 140 octets = 160 septets = 70 UCS-2 units. The 8-bit
# concatenation header (UDHL 05, IEI 00, len 03, ref, total, seq) takes 6 octets = 7 septets, leaving 153 / 67;
# the 16-bit one (IEI 08) takes 7 octets = 8 septets, leaving 152 / 66.
SINGLE_LIMIT = {"gsm7": 160, "ucs2": 70}
CONCAT8_LIMIT = {"gsm7": 153, "ucs2": 67}
CONCAT16_LIMIT = {"gsm7": 152, "ucs2": 66}
MAX_PARTS = 255  # TS 23.040 9.2.3.24.1: the part count is one octet
MAX_ADDRESS_DIGITS = 20  # TS 23.040 9.1.2.5: address value up to 10 octets of semi-octets

# TS 23.040 9.2.3.1 TP-MTI values, as seen by the MS (SC -> MS for 0 and 2, MS -> SC for 1).
MTI_DELIVER, MTI_SUBMIT, MTI_STATUS_REPORT = 0, 1, 2

# TS 23.040 9.1.2.5: semi-octet values 0-9, then '*', '#', 'a', 'b', 'c'; 0xF is the filler.
_BCD_DIGITS = "0123456789*#abc"


class PduError(ValueError):
    """A PDU that cannot be encoded or decoded: malformed hex, truncated, bad address, unsupported value."""


@dataclass(frozen=True)
class Concat:
    """Concatenated short message IE (TS 23.040 9.2.3.24.1 8-bit ref, 9.2.3.24.8 16-bit ref)."""

    ref: int
    total: int
    seq: int
    bits: int = 8  # width of the reference: 8 (IEI 00) or 16 (IEI 08)


@dataclass(frozen=True)
class SubmitPart:
    hex: str  # what goes after the "> " prompt: SMSC field ("00" = use the SIM's) + TPDU, uppercase hex
    tpdu_length: int  # the <length> for AT+CMGS: TPDU octets, SMSC field excluded (TS 27.005 3.5.1)
    text: str  # the part of the user text this PDU carries


@dataclass(frozen=True)
class SmsPlan:
    encoding: Encoding
    parts: list[str]  # len(parts) is the part count; "".join(parts) == text


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


# --------------------------------------------------------------------------------------------------- planning


def plan(text: str) -> SmsPlan:
    """Choose the alphabet (GSM 7-bit if every character fits, else UCS-2) and split into parts."""
    return _plan(text, CONCAT8_LIMIT)


def _plan(text: str, concat_limit: dict[str, int]) -> SmsPlan:
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):  # e.g. "\ud800" from JSON: not encodable as UTF-16
        raise PduError("text contains a lone UTF-16 surrogate")
    encoding: Encoding = "gsm7" if gsm7.is_gsm7(text) else "ucs2"
    if _units(text, encoding) <= SINGLE_LIMIT[encoding]:
        return SmsPlan(encoding, [text])
    parts = _split(text, encoding, concat_limit[encoding])
    if len(parts) > MAX_PARTS:
        raise PduError(f"text needs {len(parts)} parts; TS 23.040 allows at most {MAX_PARTS}")
    return SmsPlan(encoding, parts)


def _units(text: str, encoding: Encoding) -> int:
    """Septets (extension chars count 2) or UTF-16 code units (astral chars count 2)."""
    if encoding == "gsm7":
        return sum(gsm7.char_septets(ch) for ch in text)
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _split(text: str, encoding: Encoding, limit: int) -> list[str]:
    """Greedy split on cluster boundaries; a cluster too big for one part is split between code points.

    Splitting whole characters keeps ESC + extension code and surrogate pairs together by construction.
    """
    parts: list[str] = []
    current, used = "", 0
    for cluster in _clusters(text):
        pieces = list(cluster) if _units(cluster, encoding) > limit else [cluster]
        for piece in pieces:
            size = _units(piece, encoding)
            if used + size > limit:
                parts.append(current)
                current, used = "", 0
            current += piece
            used += size
    parts.append(current)
    return parts


def _clusters(text: str) -> list[str]:
    """A simple approximation of grapheme clusters: base + combining marks / variation selectors / emoji
    modifiers / tags, ZWJ sequences, and regional-indicator pairs (flags). Not full UAX #29."""
    clusters: list[str] = []
    for ch in text:
        if clusters and _extends(clusters[-1], ch):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def _extends(cluster: str, ch: str) -> bool:
    cp = ord(ch)
    if cluster[-1] == "\u200d" or cp == 0x200D:  # ZERO WIDTH JOINER binds both neighbours
        return True
    if unicodedata.category(ch) in ("Mn", "Me", "Mc"):
        return True
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
        return True
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:  # emoji modifiers, tag characters
        return True
    # a flag is a pair of regional indicators: join the second to a cluster holding an odd number of them
    return _regional(ch) and all(map(_regional, cluster)) and len(cluster) % 2 == 1


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


# --------------------------------------------------------------------------------------- octet-level helpers


class _Reader:
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


def _from_hex(hex_pdu: str) -> bytes:
    text = hex_pdu.strip()
    if not text:
        raise PduError("empty PDU")
    if len(text) % 2:
        raise PduError(f"PDU hex has odd length {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise PduError("PDU is not hexadecimal") from None


def _open(hex_pdu: str, tpdu_length: int | None) -> tuple[str | None, _Reader]:
    """Parse the optional SMSC field (TS 27.005 3.5.1) and return a reader positioned on the TPDU."""
    reader = _Reader(_from_hex(hex_pdu))
    if tpdu_length is not None and len(reader.data) == tpdu_length:
        return None, reader
    return _read_smsc(reader), reader


# ------------------------------------------------------------------------------------------------ addresses


def _digits(number: str, what: str) -> tuple[bool, str]:
    """Validate "+digits" / "digits"; returns (international, digits)."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not (1 <= len(digits) <= MAX_ADDRESS_DIGITS and all(c in "0123456789" for c in digits)):
        raise PduError(f"{what} {number!r} must be 1-{MAX_ADDRESS_DIGITS} digits after an optional '+'")
    return international, digits


def _semi_octets(digits: str) -> bytes:
    """TS 23.040 9.1.2.3: digits in swapped nibble order, an odd count padded with 0xF."""
    padded = digits + "F" * (len(digits) % 2)
    return bytes.fromhex("".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2)))


def _unsemi(raw: bytes) -> str:
    nibbles = [n for b in raw for n in (b & 0x0F, b >> 4)]
    return "".join(_BCD_DIGITS[n] for n in nibbles if n != 0xF)


def _encode_address(number: str, what: str, *, alphanumeric: bool = False) -> bytes:
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


def _read_address(reader: _Reader, what: str) -> str:
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


def _encode_smsc(smsc: str | None) -> bytes:
    """TS 24.011 8.2.5.1 RP address as used in the PDU-mode SMSC field; 00 = use the SIM's (TS 27.005 3.5.1)."""
    if smsc is None:
        return b"\x00"
    _, digits = _digits(smsc, "SMSC")
    body = bytes([0x91]) + _semi_octets(digits)  # SMSC numbers are international (+CSCA type 145)
    return bytes([len(body)]) + body


def _read_smsc(reader: _Reader) -> str | None:
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


def _read_timestamp(reader: _Reader, what: str) -> datetime | None:
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


def _encode_timestamp(moment: datetime) -> bytes:
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


def validity_octet(seconds: int) -> int:
    """Seconds -> the smallest relative TP-VP that lasts at least that long (rounded up), clamped to 63 weeks."""
    if seconds < 0:
        raise PduError(f"validity must be >= 0 seconds, got {seconds}")
    return next((vp for vp in range(256) if validity_seconds(vp) >= seconds), 255)


def _dcs_alphabet(dcs: int) -> tuple[Alphabet, int | None]:
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


# ---------------------------------------------------------------------------------------------- user data


def _concat_udh(ref: int, total: int, seq: int, bits: int = 8) -> bytes:
    if bits == 16:
        return bytes([0x08, 0x04, ref >> 8, ref & 0xFF, total, seq])  # TS 23.040 9.2.3.24.8
    return bytes([0x00, 0x03, ref, total, seq])  # TS 23.040 9.2.3.24.1


def _encode_user_data(text: str, encoding: Encoding, udh: bytes) -> bytes:
    """TP-UDL + TP-UD. With a header the 7-bit text starts on a septet boundary after fill bits (9.2.3.24)."""
    header = bytes([len(udh)]) + udh if udh else b""
    header_septets = (len(header) * 8 + 6) // 7
    if encoding == "gsm7":
        septets = gsm7.encode(text)
        fill = header_septets * 7 - len(header) * 8
        return bytes([header_septets + len(septets)]) + header + gsm7.pack(septets, fill)
    payload = header + text.encode("utf-16-be")  # astral characters become surrogate pairs
    return bytes([len(payload)]) + payload


def _read_user_data(reader: _Reader, alphabet: Alphabet, has_udh: bool) -> tuple[bytes, bytes, str]:
    """Returns (udh IEs, data, text). 7-bit length is in septets (TP-UDL), which decides a trailing '@'."""
    udl = reader.u8("TP-UDL")
    body = reader.take((udl * 7 + 7) // 8 if alphabet == "gsm7" else udl, "TP-UD")
    udh, header_len = b"", 0
    if has_udh:
        if not body:
            raise PduError("TP-UDHI set but the user data is empty")
        header_len = body[0] + 1
        if header_len > len(body):
            raise PduError(f"UDH length {body[0]} exceeds the user data ({len(body)} octets)")
        udh = body[1:header_len]
    if alphabet == "gsm7":
        header_septets = (header_len * 8 + 6) // 7
        if header_septets > udl:
            raise PduError(f"UDH takes {header_septets} septets but TP-UDL is {udl}")
        fill = header_septets * 7 - header_len * 8
        septets = gsm7.unpack(body[header_len:], udl - header_septets, fill)
        return udh, bytes(septets), gsm7.decode(septets)
    data = body[header_len:]
    text = data.decode("utf-16-be", errors="replace") if alphabet == "ucs2" else data.decode("latin-1")
    return udh, data, text


def _parse_concat(udh: bytes) -> Concat | None:
    """Walk the information elements (TS 23.040 9.2.3.24), skipping unknown ones by their length."""
    concat, i = None, 0
    while i < len(udh):
        if i + 2 > len(udh) or i + 2 + udh[i + 1] > len(udh):
            raise PduError(f"UDH information element at offset {i} overruns the header")
        iei, data = udh[i], udh[i + 2:i + 2 + udh[i + 1]]
        if iei == 0x00 and len(data) == 3:
            concat = Concat(data[0], data[1], data[2], 8)
        elif iei == 0x08 and len(data) == 4:
            concat = Concat(data[0] << 8 | data[1], data[2], data[3], 16)
        i += 2 + len(data)
    # 9.2.3.24.1: a zero total or a sequence number of 0 or beyond the total -> ignore the element
    if concat and not 1 <= concat.seq <= concat.total:
        return None
    return concat


def _part_headers(count: int, ref: int, bits: int = 8) -> list[bytes]:
    if count == 1:
        return [b""]
    return [_concat_udh(ref, count, seq, bits) for seq in range(1, count + 1)]


# ------------------------------------------------------------------------------------------------ SMS-SUBMIT


def encode_submit(destination: str, text: str, *, status_report: bool = True, validity: int | None = None,
                  concat_ref: int = 0, smsc: str | None = None) -> list[SubmitPart]:
    """One SMS-SUBMIT (TS 23.040 9.2.2.2) per part of plan(text). TP-MR is 00: the modem assigns it."""
    address = _encode_address(destination, "destination")
    if not 0 <= concat_ref <= 255:
        raise PduError(f"concat_ref must be 0-255, got {concat_ref}")
    smsc_field = _encode_smsc(smsc)
    vp = b"" if validity is None else bytes([validity_octet(validity)])
    sms = plan(text)
    headers = _part_headers(len(sms.parts), concat_ref)
    parts = []
    for part, udh in zip(sms.parts, headers):
        # 9.2.3.1-9.2.3.23: TP-MTI=01, TP-RD=0, TP-VPF=10 if VP, TP-SRR, TP-UDHI; TP-RP=0
        first = 0x01 | (0x10 if vp else 0) | (0x20 if status_report else 0) | (0x40 if udh else 0)
        dcs = 0x00 if sms.encoding == "gsm7" else 0x08
        tpdu = bytes([first, 0x00]) + address + bytes([0x00, dcs]) + vp
        tpdu += _encode_user_data(part, sms.encoding, udh)
        parts.append(SubmitPart((smsc_field + tpdu).hex().upper(), len(tpdu), part))
    return parts


def decode_submit(hex: str, tpdu_length: int | None = None) -> Submit:  # noqa: A002 - name from the interface
    smsc, reader = _open(hex, tpdu_length)
    first = reader.u8("first octet")
    if first & 0x03 != MTI_SUBMIT:
        raise PduError(f"not an SMS-SUBMIT: TP-MTI={first & 0x03}")
    mr = reader.u8("TP-MR")
    destination = _read_address(reader, "TP-DA")
    pid, dcs = reader.u8("TP-PID"), reader.u8("TP-DCS")
    vpf = (first >> 3) & 0x03
    validity = None
    if vpf == 2:
        validity = validity_seconds(reader.u8("TP-VP"))
    elif vpf:  # enhanced (01) or absolute (11): 7 octets, 9.2.3.12.2/3
        reader.take(7, "TP-VP")
    alphabet, _ = _dcs_alphabet(dcs)
    udh, data, text = _read_user_data(reader, alphabet, bool(first & 0x40))
    return Submit(destination, text, _parse_concat(udh), bool(first & 0x20), validity, dcs, alphabet, mr, data,
                  smsc, pid, bool(first & 0x04), vpf)


# ----------------------------------------------------------------------------------------------- SMS-DELIVER


def encode_deliver(originator: str, text: str, *, timestamp: datetime, concat_ref: int = 0,
                   smsc: str = "+15555550000", concat16: bool = False) -> list[str]:
    """One SMS-DELIVER (TS 23.040 9.2.2.1) hex per part, SMSC field first. The originator may be alphanumeric.

    concat16 uses the 16-bit reference IE (9.2.3.24.8); concat_ref may then be 0-65535."""
    address = _encode_address(originator, "originator", alphanumeric=True)
    if not 0 <= concat_ref <= (0xFFFF if concat16 else 0xFF):
        raise PduError(f"concat_ref {concat_ref} out of range")
    sms = _plan(text, CONCAT16_LIMIT if concat16 else CONCAT8_LIMIT)
    headers = _part_headers(len(sms.parts), concat_ref, 16 if concat16 else 8)
    head = _encode_smsc(smsc)
    scts = _encode_timestamp(timestamp)
    out = []
    for part, udh in zip(sms.parts, headers):
        first = 0x00 | 0x04 | (0x40 if udh else 0)  # TP-MTI=00, TP-MMS=1 (no more messages), TP-UDHI
        dcs = 0x00 if sms.encoding == "gsm7" else 0x08
        tpdu = bytes([first]) + address + bytes([0x00, dcs]) + scts + _encode_user_data(part, sms.encoding, udh)
        out.append((head + tpdu).hex().upper())
    return out


def decode_deliver(hex: str, tpdu_length: int | None = None) -> Deliver:  # noqa: A002 - name from the interface
    smsc, reader = _open(hex, tpdu_length)
    first = reader.u8("first octet")
    if first & 0x03 != MTI_DELIVER:
        raise PduError(f"not an SMS-DELIVER: TP-MTI={first & 0x03}")
    originator = _read_address(reader, "TP-OA")
    pid, dcs = reader.u8("TP-PID"), reader.u8("TP-DCS")
    timestamp = _read_timestamp(reader, "TP-SCTS")
    alphabet, message_class = _dcs_alphabet(dcs)
    udh, data, text = _read_user_data(reader, alphabet, bool(first & 0x40))
    return Deliver(originator, text, timestamp, _parse_concat(udh), dcs, alphabet, data, smsc, pid, message_class,
                   bool(first & 0x20), not first & 0x04, udh)


# ----------------------------------------------------------------------------------------- SMS-STATUS-REPORT


def encode_status_report(message_reference: int, recipient: str, *, status: int, sc_timestamp: datetime,
                         discharge_time: datetime, smsc: str | None = "+15555550000") -> str:
    """SMS-STATUS-REPORT (TS 23.040 9.2.2.3), SMSC field first ("00" when smsc is None)."""
    if not 0 <= message_reference <= 255 or not 0 <= status <= 255:
        raise PduError("message_reference and status must be 0-255")
    address = _encode_address(recipient, "recipient")
    tpdu = bytes([0x06, message_reference]) + address  # TP-MTI=10, TP-MMS=1, TP-SRQ=0 (report of a SUBMIT)
    tpdu += _encode_timestamp(sc_timestamp) + _encode_timestamp(discharge_time) + bytes([status])
    return (_encode_smsc(smsc) + tpdu).hex().upper()


def decode_status_report(hex: str, tpdu_length: int | None = None) -> StatusReport:  # noqa: A002
    smsc, reader = _open(hex, tpdu_length)
    first = reader.u8("first octet")
    if first & 0x03 != MTI_STATUS_REPORT:
        raise PduError(f"not an SMS-STATUS-REPORT: TP-MTI={first & 0x03}")
    mr = reader.u8("TP-MR")
    recipient = _read_address(reader, "TP-RA")
    scts = _read_timestamp(reader, "TP-SCTS")
    discharge = _read_timestamp(reader, "TP-DT")
    status = reader.u8("TP-ST")
    # Optional TP-PI / PID / DCS / UD may follow (9.2.2.3); nothing we need is in them.
    return StatusReport(mr, recipient, scts, discharge, status, smsc, bool(first & 0x20))


def decode_any(hex: str, tpdu_length: int | None = None) -> Deliver | Submit | StatusReport:  # noqa: A002
    """Dispatch on TP-MTI (TS 23.040 9.2.3.1), e.g. for messages listed by AT+CMGL=4 (stored SUBMITs included)."""
    _, reader = _open(hex, tpdu_length)
    mti = reader.peek("first octet") & 0x03
    if mti == MTI_DELIVER:
        return decode_deliver(hex, tpdu_length)
    if mti == MTI_SUBMIT:
        return decode_submit(hex, tpdu_length)
    if mti == MTI_STATUS_REPORT:
        return decode_status_report(hex, tpdu_length)
    raise PduError("reserved TP-MTI 3")
