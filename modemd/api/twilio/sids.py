"""Twilio-shaped SIDs (two letters and 32 hex digits) for modemd's records, computed, never stored.

A verification's SID is its id's ULID written in hex: `otp_` + 26 Crockford base32 characters hold a 128-bit value
(domain.sms.ulid_text), exactly what Twilio's `VE` + 32 hex digits hold. So the mapping is a bijection: the SID of
a verification is the same on every fetch, check and resend (the same code on resend keeps its id), and a SID
names one id without a lookup table. A SID of Twilio's shape that modemd never made maps to an id no verification
has: a 404 like any unknown one.

The account SID of an app and the SID of each SMS attempt are digests (stable, and telling nothing about a token).
"""

from __future__ import annotations

import hashlib
import re

from ...domain.sms import ulid_text, ulid_value

_VERIFICATION = re.compile(r"VE[0-9a-fA-F]{32}")
VERIFICATION_SID = f"^{_VERIFICATION.pattern}$"      # as Twilio's OpenAPI document states it
OTP_PREFIX = "otp_"


def verification_sid(verification_id: str) -> str:
    """The `VE` SID of a verification id made by services/otp.py ('otp_' + a ULID)."""
    return f"VE{ulid_value(verification_id.removeprefix(OTP_PREFIX)):032x}"


def verification_id(sid: str) -> str | None:
    """The verification id a `VE` SID stands for, or None if `sid` is not of Twilio's shape (hex in either case)."""
    if not _VERIFICATION.fullmatch(sid):
        return None
    return OTP_PREFIX + ulid_text(int(sid[2:], 16))


def account_sid(app: str) -> str:
    """The app's `AC` SID: Twilio's responses name an account; modemd's accounts are its apps."""
    return "AC" + _digest(f"account:{app}")


def attempt_sid(verification_id: str, send: int) -> str:
    """The `VL` SID of the `send`-th SMS (1 first) of a verification's code."""
    return "VL" + _digest(f"attempt:{verification_id}:{send}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
