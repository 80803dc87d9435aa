"""Number normalization: the strict-E.164 fast path answers exactly as the general parser does."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from modemd.domain.numbers import InvalidNumber, _from_e164, normalize


def slow(raw: str, region: str | None = None) -> str:
    """The general path alone, as normalize() did before the fast path."""
    from modemd.domain import numbers
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(numbers._PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (phonenumbers.ValidationResult.IS_POSSIBLE,
                        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise InvalidNumber(numbers._LENGTH_REASONS.get(possible, "impossible number"))
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber("not a valid number in its country's numbering plan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def outcome(fn, raw):
    try:
        return fn(raw)
    except InvalidNumber as exc:
        return f"error: {exc}"


def samples() -> list[str]:
    """Every region's example numbers (mobile, fixed, toll free ...), and random mutations of them."""
    rng = random.Random(2026)
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            found.append(e164)
            digits = list(e164[1:])
            for _ in range(3):
                mutated = digits[:]
                i = rng.randrange(1, len(mutated))
                mutated[i] = str(rng.randrange(10))
                found.append("+" + "".join(mutated))
                found.append("+" + "".join(digits[:-1]))            # one digit short
                found.append("+" + "".join(digits) + str(rng.randrange(10)))   # one too many
    return found


SAMPLES = samples()


def test_enough_samples():
    assert len(SAMPLES) > 3000 and sum(_from_e164(s) is not None for s in SAMPLES) > 2500


def test_fast_path_agrees_with_the_parser_everywhere():
    disagreements = [(raw, outcome(normalize, raw), outcome(slow, raw)) for raw in SAMPLES
                     if outcome(normalize, raw) != outcome(slow, raw)]
    assert disagreements == []


@pytest.mark.parametrize("raw", ["+390612345678", "+4915112345678 ", "+49 151 12345678", "+0123456789",
                                 "+49", "+١٢٣٤٥٦٧٨٩٠", "004915112345678"])
def test_inputs_the_fast_path_leaves_to_the_parser(raw):
    assert _from_e164(raw) is None


def test_italian_leading_zero_survives():
    assert normalize("+390612345678") == "+390612345678"
