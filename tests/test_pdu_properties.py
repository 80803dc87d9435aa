"""Property tests (hypothesis) for the PDU codec: every text survives encode -> decode, parts respect the limits
of TS 23.040 9.2.3.24 and never cut an ESC pair or a surrogate pair, and the decoders only ever raise PduError."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from modemd.codec import gsm7
from modemd.codec.pdu import (PduError, decode_any, decode_deliver, decode_status_report, decode_submit, encode_deliver,
                              encode_status_report, encode_submit, plan, validity_octet, validity_seconds)

settings.register_profile("pdu", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PDU = settings.get_profile("pdu")

GSM_CHARS = [ch for ch in gsm7.BASIC if ch != "\x1b"] + list(gsm7.EXTENSION)
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=1200)
extension_heavy = st.text(alphabet=st.sampled_from(list(gsm7.EXTENSION) + ["x", "@"]), max_size=700)
astral = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
any_text = st.text(max_size=1200)
mixed_text = st.lists(st.one_of(st.sampled_from(GSM_CHARS), astral, st.characters(),
                                st.sampled_from(["\u0301", "\u200d", "\ufe0f", "🏽", "🇩", "🇪"])),
                      max_size=600).map("".join)
# texts that put an interesting character right at a part boundary (153 septets, 67 UTF-16 units)
near_boundary = st.builds(
    lambda filler, n, special, tail: filler * n + special + tail,
    st.sampled_from(["x", "ç", "€", "😀"]), st.integers(0, 160),
    st.sampled_from(["€", "@", "[", "😀", "e\u0301", "🇩🇪", "👨\u200d👩\u200d👧", "ç", "\r"]),
    st.text(alphabet=st.sampled_from(GSM_CHARS + ["😀", "é"]), max_size=200))
texts = st.one_of(gsm_text, extension_heavy, any_text, mixed_text, near_boundary)

numbers = st.from_regex(r"\A\+?[0-9]{1,20}\Z")
alphanumeric = st.text(alphabet=st.sampled_from(GSM_CHARS), min_size=1, max_size=11).filter(
    lambda s: len(gsm7.encode(s)) <= 11 and not s.lstrip("+").isdigit())
quarter_offsets = st.integers(-79, 79).map(lambda q: timezone(timedelta(minutes=15 * q)))
timestamps = st.builds(lambda dt, tz: dt.replace(tzinfo=tz),
                       st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), allow_imaginary=True)
                       .map(lambda d: d.replace(microsecond=0)), quarter_offsets)


@PDU
@given(text=texts, status_report=st.booleans(), ref=st.integers(0, 255),
       validity=st.none() | st.integers(0, 40_000_000))
def test_submit_round_trip(text, status_report, ref, validity):
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):  # a lone surrogate (st.characters() makes them)
        with pytest.raises(PduError, match="surrogate"):
            encode_submit("+4915112345678", text)
        return
    parts = encode_submit("+4915112345678", text, status_report=status_report, validity=validity, concat_ref=ref)
    assert len(parts) == len(plan(text).parts)
    decoded = [decode_submit(p.hex, p.tpdu_length) for p in parts]
    assert "".join(d.text for d in decoded) == text
    for seq, (part, d) in enumerate(zip(parts, decoded), start=1):
        assert d.text == part.text
        assert part.tpdu_length == len(part.hex) // 2 - 1  # SMSC field "00"
        assert decode_submit(part.hex[2:], part.tpdu_length) == d  # same TPDU without the SMSC field
        assert d.status_report == status_report and d.destination == "+4915112345678"
        assert d.validity == (None if validity is None else validity_seconds(validity_octet(validity)))
        assert d.concat is None if len(parts) == 1 else (d.concat.ref, d.concat.total, d.concat.seq) == (
            ref, len(parts), seq)
        check_part_limits(part.hex, d)


def check_part_limits(hex_pdu: str, d) -> None:
    """TP-UD <= 140 octets (TS 23.040 9.2.3.24); the header is 6 octets = 7 septets when concatenated."""
    if d.encoding == "gsm7":
        septets = len(d.data) + (7 if d.concat else 0)
        assert septets <= 160 and (septets * 7 + 7) // 8 <= 140
        assert hex_pdu.endswith(gsm7.pack(list(d.data), 1 if d.concat else 0).hex().upper())
        assert not d.data or d.data[-1] != gsm7.ESC  # an ESC never ends a part
    else:
        assert len(d.data) + (6 if d.concat else 0) <= 140
        d.data.decode("utf-16-be")  # strict: no lone surrogate at either end of a part


@PDU
@given(text=texts)
def test_plan_parts_are_whole_code_points_and_join(text):
    assume(not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text))
    p = plan(text)
    assert "".join(p.parts) == text
    assert p.encoding == ("gsm7" if gsm7.is_gsm7(text) else "ucs2")
    assert len(p.parts) == 1 or all(part for part in p.parts)
    for part in p.parts:
        part.encode("utf-16-be")  # strict: never half a surrogate pair


@PDU
@given(text=texts, originator=numbers | alphanumeric, timestamp=timestamps, ref=st.integers(0, 255),
       concat16=st.booleans())
def test_deliver_round_trip(text, originator, timestamp, ref, concat16):
    assume(not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text))
    hexes = encode_deliver(originator, text, timestamp=timestamp, concat_ref=ref, concat16=concat16)
    decoded = [decode_deliver(h) for h in hexes]
    assert "".join(d.text for d in decoded) == text
    for seq, d in enumerate(decoded, start=1):
        assert d.originator == originator and d.smsc == "+15555550000"
        assert d.timestamp == timestamp and d.timestamp.utcoffset() == timestamp.utcoffset()
        if len(decoded) > 1:
            assert (d.concat.ref, d.concat.total, d.concat.seq, d.concat.bits) == (
                ref, len(decoded), seq, 16 if concat16 else 8)


@PDU
@given(mr=st.integers(0, 255), recipient=numbers, status=st.integers(0, 255), sc=timestamps, dt=timestamps,
       smsc=st.none() | st.just("+15555550000"))
def test_status_report_round_trip(mr, recipient, status, sc, dt, smsc):
    hex_pdu = encode_status_report(mr, recipient, status=status, sc_timestamp=sc, discharge_time=dt, smsc=smsc)
    r = decode_status_report(hex_pdu)
    assert (r.message_reference, r.recipient, r.status, r.sc_timestamp, r.discharge_time, r.smsc) == (
        mr, recipient, status, sc, dt, smsc)
    assert r.is_final == (not 0x20 <= status <= 0x3F)
    if smsc is None:  # "00" + TPDU: the +CDS form without SMSC decodes the same given the length
        assert decode_status_report(hex_pdu[2:], tpdu_length=len(hex_pdu) // 2 - 1) == r


@PDU
@given(seconds=st.integers(0, 63 * 7 * 86400))
def test_validity_is_the_longest_period_not_longer(seconds):
    vp = validity_octet(seconds)
    assert validity_seconds(vp) <= max(seconds, 300)      # 5 minutes is the shortest there is
    assert vp == 255 or validity_seconds(vp + 1) > seconds


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=200), tpdu_length=st.none() | st.integers(0, 200))
def test_decoders_raise_only_pdu_error(data, tpdu_length):
    for decode in (decode_any, decode_deliver, decode_submit, decode_status_report):
        try:
            decode(data.hex(), tpdu_length)
        except PduError:
            pass


@settings(max_examples=300, deadline=None)
@given(text=texts, cut=st.integers(1, 400))
def test_truncated_submit_raises_pdu_error(text, cut):
    assume(not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text))
    part = encode_submit("+15551234", text)[0]
    hex_pdu = part.hex[: 2 * min(cut, len(part.hex) // 2 - 1)]
    try:
        d = decode_submit(hex_pdu)
    except PduError:
        return
    raise AssertionError(f"truncated PDU decoded: {d}")
