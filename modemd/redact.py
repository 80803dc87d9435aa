"""Redaction at the source: what may be shown of a phone number or a secret in logs and errors."""

from __future__ import annotations


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
