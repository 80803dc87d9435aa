"""Phone numbers in, E.164 out (phonenumbers); anything invalid is refused with a reason a person understands."""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, NumberParseException, PhoneNumber, ValidationResult

from .errors import ModemdError

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code (use +<country code> or set a default region)",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_LENGTH_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short for its country",
    ValidationResult.TOO_LONG: "too long for its country",
    ValidationResult.INVALID_LENGTH: "impossible length for its country",
}
MAX_INPUT = 64   # longer input is not a phone number; do not hand it to the parser
LETTERS_REFUSED = "letters are not allowed in a phone number"


class InvalidNumber(ModemdError):
    """The reason never repeats the number itself (it may reach a log or an API error body)."""


def normalize(raw: str, default_region: str | None = None) -> str:
    """'+44 7700 900123' or ('07700 900123', 'GB') -> '+447700900123'. Raises InvalidNumber(reason).

    Letters are refused (any script): the parser would turn vanity numbers into keypad digits ('+49170CALLME1' ->
    +491702255631, someone else's phone), drop an extension ('... ext. 12', 'x12': an SMS cannot reach one, so it
    would go to the main line) and accept RFC 3966 'tel:' URIs. A client that means a number sends its digits;
    spaces, dashes, dots, slashes and parentheses stay accepted.

    Cached: parsing and validating is the costliest step of an API request (about a fifth of the OTP send path),
    and the same numbers come back (a verify after its send, a resend). Refusals are not cached (lru_cache keeps
    only returned values), so they cost the full check each time."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidNumber("empty")
    if len(raw) > MAX_INPUT:
        raise InvalidNumber("too long")
    return _normalize(raw, default_region)


@functools.lru_cache(maxsize=8192)
def _normalize(raw: str, default_region: str | None) -> str:
    number = _from_e164(raw)
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if any(c.isalpha() for c in raw):      # after the fast path: strict E.164 input has no letters by construction
        raise InvalidNumber(LETTERS_REFUSED)
    # Not plain E.164, or not valid as it stands: the parser may still make sense of it (national prefixes
    # written after the country code, +672 3..., +7 8...), and it gives the reason when it cannot.
    try:
        number = phonenumbers.parse(raw, default_region)
    except NumberParseException as exc:
        raise InvalidNumber(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise InvalidNumber(_LENGTH_REASONS.get(possible, "impossible number"))
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber("not a valid number in its country's numbering plan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _from_e164(raw: str) -> PhoneNumber | None:
    """Input already in strict E.164 ('+' and 8-15 digits, nothing else) becomes a PhoneNumber without the general
    parser, which is half the cost of checking a number (bench/bench_otp.py). Only where nothing can be lost: a
    national number with a leading zero (Italy's fixed lines, +39 06...) goes through the parser, which records
    it. Validation afterwards is the same either way; tests/test_numbers.py checks both paths agree."""
    if not (9 <= len(raw) <= 16 and raw[0] == "+" and raw[1:].isdigit() and raw.isascii() and raw[1] != "0"):
        return None
    for size in (1, 2, 3):                 # country codes are 1-3 digits and prefix-free (ITU-T E.164)
        code = int(raw[1:1 + size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            national = raw[1 + size:]
            if not national or national[0] == "0":
                return None
            return PhoneNumber(country_code=code, national_number=int(national))
    return None


def country_of(e164: str) -> str | None:
    """ISO region ('GB') of a normalized number, for per-country limits and allow-lists."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)) or None
