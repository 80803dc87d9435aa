"""What each operation of the /twilio layer takes: form-encoded parameters (application/x-www-form-urlencoded, as
the official clients send them), by Twilio's names, and the bounds of their values. The handlers check requests
against these, and the OpenAPI document (openapi.py) states them from the same ones.

A parameter is one of three kinds: one modemd takes; one of Twilio's that modemd does not implement (PSD2 Amount and
Payee, templates, tags, ...), refused with 60204 rather than quietly ignored, since a caller relying on it would
get something else than asked; any other name, refused as an invalid parameter. A name given twice is refused:
which value was meant is a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import web

from ..validation import media_type
from .errors import invalid_parameter, not_supported, unsupported_channel

PREFIX = "/twilio"                 # where the layer is mounted: a client's Verify base URL ends in it
FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 32                    # parameters in one body: Twilio's richest operation has 18
CHANNEL = "sms"                    # the one channel a modem sends codes on
# Twilio's other channels (its Verifications create `Channel`): known, not sent by modemd -> 60428.
OTHER_CHANNELS = ("call", "email", "whatsapp", "sna", "auto", "rcs")
MAX_FRIENDLY_NAME = 30             # Twilio's bound on a service's FriendlyName, the name CustomFriendlyName replaces
# A language tag as Twilio's Locale takes them ("en", "pt-BR", "zh-HK"); accepted and not used: modemd has one
# template (the [otp] template), in the language its admin wrote it.
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
LOCALE = f"^{_LOCALE.pattern}$"
MAX_LOCALE = 35
CANCELED, APPROVED = "canceled", "approved"      # the Status values of Twilio's UpdateVerification


@dataclass(frozen=True)
class Operation:
    takes: tuple[str, ...]              # the parameters modemd implements
    not_implemented: tuple[str, ...]    # Twilio's other parameters of the operation (its OpenAPI document)


CREATE = Operation(("To", "Channel", "Locale", "CustomFriendlyName", "CustomCode"),
                   ("CustomMessage", "SendDigits", "Amount", "Payee", "RateLimits", "ChannelConfiguration", "AppHash",
                    "TemplateSid", "TemplateCustomSubstitutions", "DeviceIp", "EnableSnaClientToken", "RiskCheck",
                    "Tags"))
UPDATE = Operation(("Status",), ())
CHECK = Operation(("Code", "To", "VerificationSid"), ("Amount", "Payee", "SnaClientToken"))


async def form(request: web.Request, operation: Operation) -> dict[str, str]:
    """The request's parameters, each given once and each one `operation` takes; an empty body is no parameters."""
    raw = await request.read()
    if raw and media_type(request) != FORM:
        raise invalid_parameter("Content-Type", f"send {FORM}")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True, encoding="utf-8",
                          errors="strict", max_num_fields=MAX_FIELDS)
    except ValueError:           # UnicodeDecodeError included: a byte or %-escape that is not UTF-8
        raise invalid_parameter("body", f"name=value pairs joined by &, UTF-8, at most {MAX_FIELDS}") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise invalid_parameter(name, "given more than once")
        if name in operation.not_implemented:
            raise not_supported(f"{name} is not implemented by modemd")
        if name not in operation.takes:
            raise invalid_parameter(name, "not a parameter of this operation")
        params[name] = value
    return params


def channel(value: str | None) -> str:
    if value in OTHER_CHANNELS:
        raise unsupported_channel(value)
    if value != CHANNEL:
        raise invalid_parameter("Channel", f"required: {CHANNEL}")
    return value


def locale(value: str | None) -> str | None:
    if value is not None and (len(value) > MAX_LOCALE or not _LOCALE.fullmatch(value)):
        raise invalid_parameter("Locale", "a language tag such as en or pt-BR")
    return value


def friendly_name(value: str | None) -> str | None:
    if value is not None and not 1 <= len(value) <= MAX_FRIENDLY_NAME:
        raise invalid_parameter("CustomFriendlyName", f"1 to {MAX_FRIENDLY_NAME} characters")
    return value


def status(value: str | None) -> str:
    """The Status of an update: canceled. Twilio's manual approval (approved) is refused: modemd approves a code
    only when it is checked and matches, never on an app's word."""
    if value == APPROVED:
        raise not_supported("Status=approved (a code is approved by a check that matches)")
    if value != CANCELED:
        raise invalid_parameter("Status", f"required: {CANCELED}")
    return value
