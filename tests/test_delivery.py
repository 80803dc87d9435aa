"""Delivery-report rules (modemd/domain/delivery.py), table by table: what a TP-ST value means (TS 23.040
9.2.3.15), and what the latest reports of a message's parts make of it."""

from __future__ import annotations

import pytest

from modemd.domain.delivery import Meaning, Settlement, describe, is_failure, meaning, settle
from modemd.domain.sms import State


@pytest.mark.parametrize("status, expected", [
    (0x00, Meaning.COMPLETED), (0x01, Meaning.COMPLETED), (0x02, Meaning.COMPLETED), (0x1F, Meaning.COMPLETED),
    (0x20, Meaning.TRYING), (0x25, Meaning.TRYING), (0x3F, Meaning.TRYING),
    (0x40, Meaning.PERMANENT), (0x49, Meaning.PERMANENT), (0x5F, Meaning.PERMANENT),
    (0x60, Meaning.GAVE_UP), (0x65, Meaning.GAVE_UP), (0x7F, Meaning.GAVE_UP),
    (0x80, Meaning.RESERVED), (0xFF, Meaning.RESERVED),
])
def test_what_a_tp_st_value_means(status, expected):
    assert meaning(status) is expected


@pytest.mark.parametrize("status, failure", [
    (0x00, False), (0x1F, False), (0x20, False), (0x3F, False), (0x40, True), (0x5F, True), (0x60, True),
    (0x7F, True), (0x80, True),
])
def test_which_values_end_a_part_as_failed(status, failure):
    assert is_failure(status) is failure


@pytest.mark.parametrize("status", [-1, 0x100])
def test_a_tp_st_value_is_one_octet(status):
    with pytest.raises(ValueError):
        meaning(status)


@pytest.mark.parametrize("status, text", [
    (0x00, "delivered"), (0x41, "incompatible destination"), (0x46, "validity period expired"),
    (0x62, "no response from SME (gave up)"), (0x5A, "failed (TP-ST 0x5A)"), (0x7E, "failed (TP-ST 0x7E)"),
])
def test_how_a_status_is_described(status, text):
    assert describe(status) == text


DELIVERED = Settlement(State.DELIVERED, "delivery report")


def failed(status: int) -> Settlement:
    return Settlement(State.FAILED, f"delivery report: {describe(status)}", status, f"ST {status}", describe(status))


@pytest.mark.parametrize("statuses, outcome", [
    # one part
    ([0x00], DELIVERED),
    ([0x01], DELIVERED),                       # forwarded, not confirmed: the SC is done with it
    ([0x02], DELIVERED),                       # replaced
    ([0x20], None),                            # still trying: wait for the next report
    ([None], None),                            # no report yet
    ([0x41], failed(0x41)),
    ([0x62], failed(0x62)),                    # temporary, but the SC gave up
    ([0x80], failed(0x80)),                    # reserved: not a delivery
    # several parts: delivered only when every part completed
    ([0x00, 0x00, 0x00], DELIVERED),
    ([0x00, 0x02], DELIVERED),
    ([0x00, None], None),
    ([None, 0x00], None),
    ([0x00, 0x21], None),
    # one failed part fails the message, whatever the others say; the first failed part names it
    ([0x00, 0x41], failed(0x41)),
    ([None, 0x46], failed(0x46)),
    ([0x21, 0x60], failed(0x60)),
    ([0x43, 0x41], failed(0x43)),
    ([0x00, 0x20, 0x64, 0x41], failed(0x64)),
    # nothing to settle
    ([], None),
])
def test_how_the_parts_reports_settle_a_message(statuses, outcome):
    assert settle(statuses) == outcome
