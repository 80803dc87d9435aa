"""National language shift tables (TS 23.038 Annex A) selected by the UDH IEs 0x24 / 0x25 (TS 23.040
9.2.3.24.15 / .16), on the decoding side.

The expected characters below are written from the spec's tables (code -> character), not looked up in
``gsm7_national``, so a transcription error there shows up here. Independent decoders: python-gammu
(libGammu 1.42) ignores these IEs and decodes with the default alphabet, so it cannot be compared;
gsmcodecs (a transcription of TS 23.038 V18.0.0), when installed, is compared table by table.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.codec import gsm7, gsm7_national
from modemd.codec.pdu import Concat, decode_any, decode_deliver, decode_submit, encode_deliver

ESC = 0x1B
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
SINGLE, LOCKING = 0x24, 0x25


def user_data(septets: list[int], udh: bytes) -> bytes:
    """TP-UDL + TP-UD, 7-bit, with the header and its fill bits (TS 23.040 9.2.3.24)."""
    header = bytes([len(udh)]) + udh
    header_septets = (len(header) * 8 + 6) // 7
    fill = header_septets * 7 - len(header) * 8
    return bytes([header_septets + len(septets)]) + header + gsm7.pack(septets, fill)


def deliver_hex(septets: list[int], udh: bytes, dcs: int = 0x00) -> str:
    """SMS-DELIVER from +905321234567 via SMSC +15555550000, TP-UDHI set; for dcs 0x08 `septets` are octets."""
    smsc = bytes.fromhex("07915155550500F0")
    tpdu = bytes.fromhex("44" "0C91093512325476" "00") + bytes([dcs]) + bytes.fromhex("42506070809000")
    if dcs == 0x08:
        header = bytes([len(udh)]) + udh
        return (smsc + tpdu + bytes([len(header) + len(septets)]) + header + bytes(septets)).hex().upper()
    return (smsc + tpdu + user_data(septets, udh)).hex().upper()


def ie(iei: int, *data: int) -> bytes:
    return bytes([iei, len(data), *data])


# ------------------------------------------------------------------------------------------ hand-built PDUs


def test_a_hand_written_turkish_pdu():
    # "şğİıç€" in the Turkish locking shift table (A.3.1): 1D 0C 40 07 60 04, after UDH 03 25 01 01 (4 octets,
    # so 32 bits of header + 3 fill bits = 5 septets; TP-UDL = 5 + 6)
    hex_pdu = "07915155550500F0440C910935123254760000425060708090000B03250101E83080073001"
    assert deliver_hex([0x1D, 0x0C, 0x40, 0x07, 0x60, 0x04], ie(LOCKING, 1)) == hex_pdu
    sms = decode_deliver(hex_pdu)
    assert sms.text == "şğİıç€"
    assert sms.udh == bytes([0x25, 0x01, 0x01])
    assert sms.encoding == "gsm7" and sms.concat is None
    assert list(sms.data) == [0x1D, 0x0C, 0x40, 0x07, 0x60, 0x04]   # the septets, whatever the table


def test_turkish_locking_shift_keeps_ascii_and_replaces_the_rest():
    septets = [0x49, 0x1C, 0x69, 0x0C, 0x20, 0x5F, 0x0B, 0x7E, 0x2C]   # I Ş i ğ SP § Ğ ü ,
    assert decode_deliver(deliver_hex(septets, ie(LOCKING, 1))).text == "IŞiğ §Ğü,"
    # the same septets with the default alphabet
    assert decode_deliver(deliver_hex(septets, b"")).text == "IÆiø §Øü,"


def test_turkish_single_shift_over_the_default_alphabet():
    septets = [ESC, 0x47, ESC, 0x49, ESC, 0x53, ESC, 0x63, ESC, 0x65, ESC, 0x67, ESC, 0x69, ESC, 0x73,
               ESC, 0x28, ESC, 0x3C, 0x41]   # A.2.1: Ğ İ Ş ç € ğ ı ş, and { [ kept from the default extension
    assert decode_deliver(deliver_hex(septets, ie(SINGLE, 1))).text == "ĞİŞç€ğış{[A"


def test_turkish_single_shift_code_without_a_character_shows_the_locking_table_character():
    # ESC 0x41: nothing in A.2.1 at 0x41 -> the main table's 'A' (TS 23.038 6.2.1.1); ESC 0x07 under the Turkish
    # locking table -> its 'ı'
    assert gsm7.decode([ESC, 0x41], single=1) == "A"
    assert gsm7.decode([ESC, 0x07], locking=1, single=1) == "ı"
    assert gsm7.decode([ESC, ESC], locking=1, single=1) == " "
    assert gsm7.decode([0x41, ESC], locking=1, single=1) == "A"   # a lone trailing ESC is dropped, as before


def test_turkish_both_tables_in_one_header():
    septets = [0x1D, ESC, 0x65, ESC, 0x49]     # ş (locking), € and İ (single)
    udh = ie(SINGLE, 1) + ie(LOCKING, 1)
    assert decode_deliver(deliver_hex(septets, udh)).text == "ş€İ"


def test_portuguese_locking_and_single_shift():
    locking = [0x04, 0x12, 0x15, 0x18, 0x24, 0x40, 0x60, 0x7D, 0x16, 0x17, 0x1A]   # A.3.3
    assert decode_deliver(deliver_hex(locking, ie(LOCKING, 3))).text == "êª∞€ºÍ~`^\\|"
    single = [ESC, 0x05, ESC, 0x0B, ESC, 0x12, ESC, 0x5B, ESC, 0x7F, ESC, 0x41]     # A.2.3
    assert decode_deliver(deliver_hex(single, ie(SINGLE, 3))).text == "êÔΦÃâÀ"


def test_spanish_single_shift():
    # "Ácido canción Perú": Á = ESC 41, ó = ESC 6F, ú = ESC 75 (A.2.2); the rest is default alphabet
    septets = [ESC, 0x41] + gsm7.encode("cido canci") + [ESC, 0x6F] + gsm7.encode("n Per") + [ESC, 0x75]
    assert decode_deliver(deliver_hex(septets, ie(SINGLE, 2))).text == "Ácido canción Perú"
    assert gsm7.decode([ESC, 0x09, ESC, 0x49, ESC, 0x61, ESC, 0x65], single=2) == "çÍá€"


def test_spanish_has_no_locking_shift_table():
    # A.3.2 is void: a locking shift IE naming Spanish keeps the default alphabet
    septets = gsm7.encode("¿Dònde? Ñ") + [0x1D, 0x0C]
    assert decode_deliver(deliver_hex(septets, ie(LOCKING, 2))).text == "¿Dònde? Ñæø"


def test_hindi_locking_shift():
    # A.3.6: न 2F, म 42, स 4C, ् 5F, त 27, े 59, SP 20, भ 41, ा 50, र 44
    septets = [0x2F, 0x42, 0x4C, 0x5F, 0x27, 0x59, 0x20, 0x41, 0x50, 0x44, 0x27]
    assert decode_deliver(deliver_hex(septets, ie(LOCKING, 6))).text == "नमस्ते भारत"


def test_hindi_single_shift_digits_and_danda():
    # A.2.6: ० 1C, १ 1D, ९ 25, । 19; Latin capitals at 41-5A
    septets = [ESC, 0x1C, ESC, 0x1D, ESC, 0x25, ESC, 0x19, ESC, 0x48]
    udh = ie(LOCKING, 6) + ie(SINGLE, 6)
    assert decode_deliver(deliver_hex(septets, udh)).text == "०१९।H"


def test_urdu_locking_shift():
    assert gsm7.decode([0x00, 0x25, 0x1A, 0x53], locking=13) == "اردو"   # A.3.13


@pytest.mark.parametrize("lang", [0, 14, 15, 0x7F, 0xFF])
def test_unknown_language_identifiers_fall_back_to_the_default_tables(lang):
    septets = [0x1D, 0x0C, 0x40, ESC, 0x65, ESC, 0x47, 0x41]
    default = gsm7.decode(septets)
    assert default == "æø¡€GA"
    assert gsm7.decode(septets, locking=lang, single=lang) == default
    udh = ie(LOCKING, lang) + ie(SINGLE, lang)
    assert decode_deliver(deliver_hex(septets, udh)).text == default


def test_with_concatenation_and_a_long_header():
    # 8-bit concat + both shift IEs: 11 octets of UDH (12 with UDHL) -> 14 septets, 2 fill bits
    udh = bytes([0x00, 0x03, 0x2A, 0x02, 0x01]) + ie(LOCKING, 1) + ie(SINGLE, 1)
    sms = decode_deliver(deliver_hex([0x1D, 0x40, ESC, 0x69, 0x40], udh))
    assert sms.text == "şİıİ"
    assert sms.concat == Concat(0x2A, 2, 1, 8)


def test_an_ie_of_the_wrong_length_is_ignored_and_the_last_repeated_one_counts():
    septets = [0x1D, 0x0C]
    assert decode_deliver(deliver_hex(septets, bytes([LOCKING, 2, 1, 1]))).text == "æø"
    assert decode_deliver(deliver_hex(septets, ie(LOCKING, 3) + ie(LOCKING, 1))).text == "şğ"
    assert decode_deliver(deliver_hex(septets, ie(LOCKING, 1) + ie(LOCKING, 0))).text == "æø"


def test_ucs2_ignores_the_shift_ies():
    data = "şğ".encode("utf-16-be")
    sms = decode_deliver(deliver_hex(list(data), ie(LOCKING, 1), dcs=0x08))
    assert sms.text == "şğ" and sms.encoding == "ucs2"


def test_submit_and_decode_any_honour_the_ies_too():
    tpdu = bytes.fromhex("4100" "0B915121436587F9" "0000") + user_data([0x1D, 0x0C], ie(LOCKING, 1))
    hex_pdu = ("00" + tpdu.hex()).upper()
    assert decode_submit(hex_pdu).text == "şğ"
    assert decode_any(hex_pdu).text == "şğ"


def test_messages_without_the_ies_are_unchanged():
    text = "Hello {world} € [x] ~ @ ñ"
    for hex_pdu in encode_deliver("+4477", text, timestamp=WHEN):
        assert decode_deliver(hex_pdu).text == text
    septets = list(range(128))
    assert gsm7.decode(septets) == gsm7.decode(septets, 0, 0)


# ----------------------------------------------------------------------------------------- the tables' shape

SCRIPT_BLOCKS = {4: (0x0980, 0x09FF), 5: (0x0A80, 0x0AFF), 6: (0x0900, 0x097F), 7: (0x0C80, 0x0CFF),
                 8: (0x0D00, 0x0D7F), 9: (0x0B00, 0x0B7F), 10: (0x0A00, 0x0A7F), 11: (0x0B80, 0x0BFF),
                 12: (0x0C00, 0x0C7F), 13: (0x0600, 0x06FF)}
LATIN_SHARED = set("@£$¥¿\"¤%&'\f*+-/<=>¡^_#{}\\[~]|€") | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_which_languages_have_tables():
    assert set(gsm7_national.LOCKING_SHIFT) == {1, 3, *range(4, 14)}     # no A.3.2 (Spanish)
    assert set(gsm7_national.SINGLE_SHIFT) == set(range(1, 14))
    assert set(gsm7_national.LANGUAGES) == set(range(1, 14))


@pytest.mark.parametrize("lang", sorted(gsm7_national.LOCKING_SHIFT))
def test_locking_shift_table_self_consistency(lang):
    table = gsm7_national.LOCKING_SHIFT[lang]
    assert len(table) == 128
    assert table[ESC] == "\x1b" and table.count("\x1b") == 1
    assert (table[0x0A], table[0x0D], table[0x20]) == ("\n", "\r", " ")   # LF, CR, SP at their default codes
    # every character once; spaces away from 0x20 are the spec's empty cells
    chars = [ch for code, ch in enumerate(table) if ch != " " or code == 0x20]
    assert len(chars) == len(set(chars))
    assert table[0x30:0x3A] == "0123456789"
    if lang in SCRIPT_BLOCKS:
        low, high = SCRIPT_BLOCKS[lang]
        assert table[0x61:0x7B] == "abcdefghijklmnopqrstuvwxyz"
        assert all(low <= ord(ch) <= high for ch in table if ord(ch) > 0x7F)


@pytest.mark.parametrize("lang", sorted(gsm7_national.SINGLE_SHIFT))
def test_single_shift_table_self_consistency(lang):
    table = gsm7_national.SINGLE_SHIFT[lang]
    assert len(table) == 128
    assert table[0x0A] == "\f" and table[ESC] == " "
    assert table[0x65] == "€"
    chars = [ch for ch in table if ch != " "]
    duplicates = {ch for ch in chars if chars.count(ch) > 1}
    if lang in SCRIPT_BLOCKS:
        # the Indian single shift tables carry '¡' (0x13, 0x15) and '*' (0x0B, 0x18) twice, as the spec does
        assert duplicates == {"¡", "*"}
        assert (table[0x13], table[0x15], table[0x0B], table[0x18]) == ("¡", "¡", "*", "*")
        low, high = SCRIPT_BLOCKS[lang]
        others = {ch for ch in chars if not low <= ord(ch) <= high} - LATIN_SHARED
        assert others <= {"\u0964", "\u0965"}           # the Devanagari danda / double danda, shared
        assert table[0x41:0x5B] == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    else:
        assert duplicates == set()


@pytest.mark.parametrize("lang", sorted(gsm7_national.LOCKING_SHIFT))
def test_every_locking_code_decodes_to_its_table_entry(lang):
    table = gsm7_national.LOCKING_SHIFT[lang]
    for code in range(128):
        if code != ESC:
            assert gsm7.decode([code], locking=lang) == table[code]
    assert gsm7.decode([c for c in range(128) if c != ESC], locking=lang) == table.replace("\x1b", "")


@pytest.mark.parametrize("locking", [0, *sorted(gsm7_national.LOCKING_SHIFT)])
@pytest.mark.parametrize("single", sorted(gsm7_national.SINGLE_SHIFT))
def test_every_single_shift_code_decodes_to_its_table_entry(single, locking):
    table = gsm7_national.SINGLE_SHIFT[single]
    main = gsm7_national.LOCKING_SHIFT.get(locking, gsm7.BASIC)
    for code in range(128):
        expected = " " if code == ESC else table[code] if table[code] != " " else main[code]
        assert gsm7.decode([ESC, code], locking=locking, single=single) == expected


def reference_decode(septets: list[int], locking: int, single: int) -> str:
    main = gsm7_national.LOCKING_SHIFT.get(locking, gsm7.BASIC)
    shift = gsm7_national.SINGLE_SHIFT.get(single)
    out, i = [], 0
    while i < len(septets):
        if septets[i] != ESC:
            out.append(main[septets[i]])
        elif i + 1 < len(septets):
            i += 1
            code = septets[i]
            if code == ESC:
                out.append(" ")
            elif shift is not None and shift[code] != " ":
                out.append(shift[code])
            elif shift is None and code in gsm7.EXTENSION.values():
                out.append(next(ch for ch, c in gsm7.EXTENSION.items() if c == code))
            else:
                out.append(main[code])
        i += 1
    return "".join(out)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 127), max_size=200), st.integers(0, 255), st.integers(0, 255))
def test_any_septets_decode_like_the_tables_say_through_a_pdu(septets, locking, single):
    udh = ie(LOCKING, locking) + ie(SINGLE, single)
    sms = decode_deliver(deliver_hex(septets, udh))
    assert list(sms.data) == septets
    assert sms.text == reference_decode(septets, locking, single)


# ------------------------------------------------------------------------------ an independent transcription

# Where gsmcodecs 1.0.0 (TS 23.038 V18.0.0) and Android's tables differ, see gsm7_national's docstring.
KNOWN_DIFFERENCES = {("locking", lang, 0x2C) for lang in range(4, 14)} | {("locking", 7, 0x24),
                                                                           ("single", 12, 0x65)}


def test_tables_agree_with_gsmcodecs():
    charmaps = pytest.importorskip("gsmcodecs.charmaps").GSMCHARMAPS
    seen = set()
    for kind, key, tables in (("locking", "locking", gsm7_national.LOCKING_SHIFT),
                              ("single", "singleShift", gsm7_national.SINGLE_SHIFT)):
        for lang in range(1, 14):
            theirs = charmaps.get(lang, {}).get(key, {}).get("decode")
            assert (theirs is None) == (lang not in tables), (kind, lang)
            if theirs is None:
                continue
            for code, ours in enumerate(tables[lang]):
                if code == ESC:
                    continue
                other = chr(theirs[code]) if code in theirs else " "
                if ours != other:
                    seen.add((kind, lang, code))
    assert seen == KNOWN_DIFFERENCES
