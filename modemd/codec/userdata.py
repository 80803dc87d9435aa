"""TP-UDL and TP-UD with the User Data Header (TS 23.040 9.2.3.16, 9.2.3.24): 7-bit fill bits after the header,
the concatenation information elements, the national language shift IEs that pick the 7-bit tables a
received text is decoded with (9.2.3.24.15/16), and the received parts of a message decoded again as one stream
(join_user_data, for the store's reassembly). Pure: no I/O, no asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

from . import gsm7

from .fields import Alphabet, PduError, Reader
from .parts import Encoding


@dataclass(frozen=True)
class Concat:
    """Concatenated short message IE (TS 23.040 9.2.3.24.1 8-bit ref, 9.2.3.24.8 16-bit ref)."""

    ref: int
    total: int
    seq: int
    bits: int = 8  # width of the reference: 8 (IEI 00) or 16 (IEI 08)


def _concat_udh(ref: int, total: int, seq: int, bits: int = 8) -> bytes:
    if bits == 16:
        return bytes([0x08, 0x04, ref >> 8, ref & 0xFF, total, seq])  # TS 23.040 9.2.3.24.8
    return bytes([0x00, 0x03, ref, total, seq])  # TS 23.040 9.2.3.24.1


def encode_user_data(text: str, encoding: Encoding, udh: bytes) -> bytes:
    """TP-UDL + TP-UD. With a header the 7-bit text starts on a septet boundary after fill bits (9.2.3.24)."""
    header = bytes([len(udh)]) + udh if udh else b""
    header_septets = (len(header) * 8 + 6) // 7
    if encoding == "gsm7":
        septets = gsm7.encode(text)
        fill = header_septets * 7 - len(header) * 8
        return bytes([header_septets + len(septets)]) + header + gsm7.pack(septets, fill)
    payload = header + text.encode("utf-16-be")  # astral characters become surrogate pairs
    return bytes([len(payload)]) + payload


def read_user_data(reader: Reader, alphabet: Alphabet, has_udh: bool) -> tuple[bytes, bytes, str]:
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
        locking, single = national_shift(udh)
        return udh, bytes(septets), gsm7.decode(septets, locking, single)
    data = body[header_len:]
    text = data.decode("utf-16-be", errors="replace") if alphabet == "ucs2" else data.decode("latin-1")
    return udh, data, text


def national_shift(udh: bytes) -> tuple[int, int]:
    """(locking, single) national language identifiers, 0 when absent: IE 0x25 National Language Locking Shift
    (TS 23.040 9.2.3.24.16) and IE 0x24 National Language Single Shift (9.2.3.24.15), one octet each. A repeated
    IE counts by its last occurrence (9.2.3.24). Lenient: an IE that overruns the header ends the walk (parse_concat
    reports it)."""
    locking = single = 0
    i = 0
    while i + 2 <= len(udh) and i + 2 + udh[i + 1] <= len(udh):
        iei, length = udh[i], udh[i + 1]
        if iei == 0x25 and length == 1:
            locking = udh[i + 2]
        elif iei == 0x24 and length == 1:
            single = udh[i + 2]
        i += 2 + length
    return locking, single


def parse_concat(udh: bytes) -> Concat | None:
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


class PartData(NamedTuple):
    """One received part as the store keeps it: its encoding ("gsm7": data holds septet values, "ucs2": UTF-16BE
    octets, "8bit": octets, "": only the text was kept), the GSM-7 national (locking, single) shift ids, its user
    data without the header, and the text it decoded to on its own."""
    encoding: str
    shift: tuple[int, int]
    data: bytes | None
    text: str


def join_user_data(parts: Sequence[PartData]) -> str:
    """The text of a concatenated message, its parts in order, decoded as one stream: a sender may split a
    character between parts (a surrogate pair in UCS-2, ESC and its extension code in GSM-7; TS 23.040 leaves it to
    the sender), which decoding part by part would lose. Falls back to the parts' own texts when their encodings or
    national shift tables differ, or a part's user data was not kept."""
    encodings = {p.encoding for p in parts}
    shifts = {p.shift for p in parts}
    if len(encodings) != 1 or len(shifts) != 1 or "" in encodings or any(p.data is None for p in parts):
        return "".join(p.text for p in parts)
    data = b"".join(p.data for p in parts)
    encoding = encodings.pop()
    if encoding == "gsm7":
        locking, single = shifts.pop()
        return gsm7.decode(list(data), locking, single)
    if encoding == "ucs2":
        return data.decode("utf-16-be", errors="replace")
    return data.decode("latin-1")


def part_headers(count: int, ref: int, bits: int = 8) -> list[bytes]:
    if count == 1:
        return [b""]
    return [_concat_udh(ref, count, seq, bits) for seq in range(1, count + 1)]
