"""Redaction at the source: what may be shown of a phone number or a secret in logs and errors."""

from __future__ import annotations

import re

# A phone number inside free text (a phone's error message): a '+' and digits, or seven digits or more, spaces and
# dashes allowed between them.
_NUMBER_IN_TEXT = re.compile(r"\+?\d[\d \-]{5,}\d")


def mask_number(number: str) -> str:
    """'+447700900123' -> '+4477****123': enough to tell numbers apart in a log, not enough to dial.

    Keeps the leading '+' and up to four digits (country code and a little of the range) and the last three.
    Short numbers (service codes) keep only their last two digits visible.
    """
    number = number.strip()
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus):]
    if len(digits) <= 4:
        return plus + "*" * max(0, len(digits) - 2) + digits[-2:]
    head = min(4, max(0, len(digits) - 7))
    hidden = len(digits) - head - 3
    return plus + digits[:head] + "*" * hidden + digits[-3:]


# Digits of each identity kept in front when it is shown masked: an IMEI's TAC (the model), an ICCID's industry,
# country and issuer, an IMSI's MCC and MNC (the operator).
IDENTITY_HEADS = {"imei": 8, "iccid": 7, "imsi": 5}


def mask_numbers_in(text: str) -> str:
    """Text that came from outside (a phone's error message, which may quote the recipient), with every phone
    number in it masked (mask_number), before it reaches a log line, a state or an API answer."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask_number(re.sub(r"[ \-]", "", m.group())), text)


def mask_identity(kind: str, value: str) -> str | None:
    """An IMEI, ICCID or IMSI as logs and the API show it (mask_id with the kind's head); None for an empty value."""
    return mask_id(value, IDENTITY_HEADS[kind])


def mask_id(value: str, keep_head: int) -> str | None:
    """IMEI/ICCID: the head names the model or issuer, not the unit; the tail tells two devices apart.

    keep_head 8 for an IMEI (its TAC), 7 for an ICCID (industry, country and issuer). None for an empty value.
    """
    if not value:
        return None
    if len(value) <= keep_head + 2:
        return "*" * len(value)
    return value[:keep_head] + "*" * (len(value) - keep_head - 2) + value[-2:]
