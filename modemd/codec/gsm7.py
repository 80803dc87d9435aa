"""GSM 7-bit default alphabet and septet packing (3GPP TS 23.038 6.2.1, 6.1.2.1; TS 23.040 9.2.3.24).

Pure functions, no I/O. ``pdu.py`` builds the TPDU layer on top of these.

* ``encode(text)`` -> septet values (extension characters become ESC + code, TS 23.038 6.2.1.1).
* ``decode(septets, locking=0, single=0)`` -> text; locking / single are national language identifiers
  (TS 23.038 6.2.1.2.4, Annex A; tables in ``gsm7_national``) taken from the UDH (TS 23.040 9.2.3.24.15/16).
* ``pack(septets, fill_bits)`` / ``unpack(data, count, fill_bits)``: the bit packing of TS 23.038 6.1.2.1.1, with
  the fill bits that put the first character after a User Data Header on a septet boundary (TS 23.040 9.2.3.24).

The number of septets always comes from the caller (TP-UDL, or the address length): a trailing zero septet is a
genuine '@' if the count says so, and padding otherwise. We never strip zeros.
"""

from __future__ import annotations

from . import gsm7_national

ESC = 0x1B

# TS 23.038 6.2.1 "GSM 7 bit Default Alphabet". 0x1B (ESC) is the escape to the extension table and carries no
# character of its own; it is a placeholder here and never matched on encode. 0x09 is the capital C with cedilla
# (the lower-case form in old versions of the table is a known erratum; we decode to U+00C7).
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(BASIC) == 128

# TS 23.038 6.2.1.1 "GSM 7 bit default alphabet extension table": reached by ESC (0x1B) + code, 2 septets each.
EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_BASIC_CODE = {ch: code for code, ch in enumerate(BASIC) if code != ESC}
_EXTENSION_CHAR = {code: ch for ch, code in EXTENSION.items()}
# A space in a single shift table means "no character there" (see gsm7_national).
_NATIONAL_SHIFT_CHAR = {lang: {code: ch for code, ch in enumerate(table) if ch != " "}
                        for lang, table in gsm7_national.SINGLE_SHIFT.items()}


class Gsm7Error(ValueError):
    """Text not representable in the GSM 7-bit alphabet, or packed data shorter than its septet count."""


def char_septets(ch: str) -> int:
    """Septets one character takes (1 basic, 2 extension), 0 when it is not representable."""
    if ch in _BASIC_CODE:
        return 1
    return 2 if ch in EXTENSION else 0


def is_gsm7(text: str) -> bool:
    """True when every character of text is in the default alphabet or its extension table."""
    return all(char_septets(ch) for ch in text)


def septet_length(text: str) -> int:
    """Septets text takes once encoded (extension characters count 2). Raises Gsm7Error if not representable."""
    return len(encode(text))


def encode(text: str) -> list[int]:
    """Text -> septet values; extension characters as ESC + code (TS 23.038 6.2.1.1)."""
    out: list[int] = []
    for ch in text:
        code = _BASIC_CODE.get(ch)
        if code is not None:
            out.append(code)
        elif ch in EXTENSION:
            out += (ESC, EXTENSION[ch])
        else:
            raise Gsm7Error(f"character {ch!r} (U+{ord(ch):04X}) is not in the GSM 7-bit alphabet")
    return out


def decode(septets: list[int] | bytes, locking: int = 0, single: int = 0) -> str:
    """Septet values -> text.

    TS 23.038 6.2.1.1: an ESC followed by a code with no extension character shows the main table's character
    for that code; ESC ESC is reserved for a further table (shown as a space, the spec's fallback for ESC).
    A lone ESC at the end is dropped.

    locking / single: national language identifiers from the UDH IEs 0x25 / 0x24 (TS 23.040 9.2.3.24.16 / .15).
    The locking shift table replaces the default alphabet, the single shift table the extension table
    (TS 23.038 Annex A). An identifier with no table (0, Spanish locking, 14 and up) keeps the default one.
    """
    basic = gsm7_national.LOCKING_SHIFT.get(locking, BASIC)
    extension = _NATIONAL_SHIFT_CHAR.get(single, _EXTENSION_CHAR)
    out: list[str] = []
    i, n = 0, len(septets)
    while i < n:
        code = septets[i] & 0x7F
        if code != ESC:
            out.append(basic[code])
        elif i + 1 < n:
            i += 1
            ext = septets[i] & 0x7F
            out.append(extension.get(ext, " " if ext == ESC else basic[ext]))
        i += 1
    return "".join(out)


def pack(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB-first into octets (TS 23.038 6.1.2.1.1), after fill_bits zero bits (TS 23.040 9.2.3.24).

    Spare bits at the end are zero; the receiver relies on the septet count (TP-UDL), not on the padding.
    """
    value = 0
    for i, septet in enumerate(septets):
        value |= (septet & 0x7F) << (fill_bits + 7 * i)
    nbits = fill_bits + 7 * len(septets)
    return value.to_bytes((nbits + 7) // 8, "little")


def unpack(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Unpack exactly count septets that start fill_bits into data. Raises Gsm7Error if data is too short."""
    needed = (fill_bits + 7 * count + 7) // 8
    if needed > len(data):
        raise Gsm7Error(f"{count} septets need {needed} octets, only {len(data)} present")
    value = int.from_bytes(data[:needed], "little") >> fill_bits
    return [(value >> (7 * i)) & 0x7F for i in range(count)]
