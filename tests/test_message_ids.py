"""Message ids are ULIDs: 48-bit millisecond time + 80 random bits in Crockford base32, sortable by creation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.domain.sms import _CROCKFORD, new_batch_id, new_message_id


def reference_ulid(value: int) -> str:
    """The ULID spec's encoding, digit by digit: 26 characters, most significant first."""
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode(ulid: str) -> int:
    value = 0
    for ch in ulid:
        value = value * 32 + _CROCKFORD.index(ch)
    return value


@settings(max_examples=300)
@given(millis=st.integers(min_value=0, max_value=(1 << 48) - 1))
def test_the_id_is_the_ulid_of_its_time_and_random_bits(millis):
    mid = new_message_id(millis / 1000)
    assert mid.startswith("msg_") and len(mid) == 30
    value = decode(mid[4:])
    assert value >> 128 == 0                           # the top 2 of 130 bits are zero
    assert value >> 80 == int(millis / 1000 * 1000)    # the time as the caller's float gives it
    assert reference_ulid(value) == mid[4:]


def test_ids_sort_by_creation_time_and_do_not_repeat():
    ids = [new_message_id(1_700_000_000 + i / 1000) for i in range(2000)]
    assert sorted(ids) == ids and len(set(ids)) == len(ids)


def test_batch_ids_are_ulids_of_their_own_kind():
    bid = new_batch_id(1_700_000_000)
    assert bid.startswith("bat_") and len(bid) == 30 and decode(bid[4:]) >> 80 == 1_700_000_000_000
