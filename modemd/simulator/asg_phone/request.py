"""A POST /messages body -> a PhoneMessage, with the app's checks and texts (PostMessageRequest.validate() and its
validUntil getter; IllegalArgumentException there becomes 400 {"message": ...} through the app's StatusPages)."""
from __future__ import annotations

import time
from datetime import datetime

from .state import PhoneMessage, Recipient, nanoid


class BadRequest(ValueError):
    """The app's IllegalArgumentException / BadRequestException: 400 with {"message": str(exc)}."""


def parse_send(body, skip_phone_validation: bool = False) -> PhoneMessage:
    if not isinstance(body, dict):
        raise BadRequest("Failed to convert request body to class PostMessageRequest")
    text = _text(body)
    numbers = body.get("phoneNumbers")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers or []):
        raise BadRequest("phoneNumbers: an array of strings is required")
    if not numbers:
        raise BadRequest("Empty phone numbers list")
    if not skip_phone_validation:
        numbers = [_phone(n) for n in numbers]
    sim = body.get("simNumber")
    if sim is not None and (not isinstance(sim, int) or sim < 1):
        raise BadRequest("SIM number cannot be less than 1")
    return PhoneMessage(id=body.get("id") or nanoid(), text=text,
                        recipients=[Recipient(n) for n in dict.fromkeys(numbers)],
                        with_delivery_report=body.get("withDeliveryReport", True) is not False,
                        valid_until=_valid_until(body), sim_number=sim,
                        is_encrypted=bool(body.get("isEncrypted", False)))


def _text(body: dict) -> str:
    kinds = [k for k in ("textMessage", "dataMessage", "message") if body.get(k) is not None]
    if not kinds:
        raise BadRequest("Must specify exactly one of: textMessage, dataMessage, or message")
    if len(kinds) > 1:
        raise BadRequest("Cannot specify multiple message types simultaneously")
    if kinds[0] == "dataMessage":                       # data SMS to a port: the simulated radio has none
        raise BadRequest("dataMessage is not simulated; send textMessage")
    text = body["message"] if kinds[0] == "message" else (body["textMessage"] or {}).get("text")
    if not isinstance(text, str) or not text:
        raise BadRequest("Text message is empty")
    return text


def _phone(number: str) -> str:
    """The app checks numbers with libphonenumber unless skipPhoneValidation; here: E.164-like digits."""
    digits = number.replace(" ", "").replace("-", "")
    if not (digits.lstrip("+").isdigit() and 3 <= len(digits.lstrip("+")) <= 15):
        raise BadRequest(f"Invalid phone number: {number}")
    return digits


def _valid_until(body: dict) -> float | None:
    ttl, until = body.get("ttl"), body.get("validUntil")
    if ttl is not None and until is not None:
        raise BadRequest("fields conflict: ttl and validUntil")
    if ttl is not None:
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            raise BadRequest("ttl: seconds as an integer")
        moment = time.time() + ttl
    elif until is not None:
        try:
            moment = datetime.fromisoformat(str(until).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise BadRequest(f"validUntil: not a date: {until}") from None
    else:
        return None
    if moment < time.time():
        raise BadRequest("message already expired")
    return moment
