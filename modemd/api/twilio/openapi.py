"""The OpenAPI 3.1 description of the /twilio layer, served at GET /twilio/openapi.json: Twilio's paths, the
parameters modemd takes (params.py, with their bounds from the same constants the handlers check), the JSON it
answers (shapes.py) and Twilio's error body (errors.py). A document of its own: the root /openapi.json describes
modemd's native API, in its own shapes and auth. tests/test_twilio_api.py keeps this one in step with the routes
and checks every answer of its tests against it.
"""

from __future__ import annotations

from ... import __version__
from ...config.twilio import SERVICE_SID
from ..limits import MAX_BODY, MAX_CODE, MAX_NUMBER, MIN_CODE
from .params import (CANCELED, CHANNEL, CHECK, CREATE, FORM, LOCALE, MAX_FIELDS, MAX_FRIENDLY_NAME, MAX_LOCALE,
                     OTHER_CHANNELS, PREFIX, UPDATE)
from .sids import VERIFICATION_SID

CODE = {"type": "string", "pattern": f"^[0-9]{{{MIN_CODE},{MAX_CODE}}}$"}
SID = {"type": "string", "pattern": "^{}[0-9a-f]{{32}}$"}
TIMESTAMP = {"type": "string", "format": "date-time"}
NUMBER = {"type": "string", "maxLength": MAX_NUMBER, "description": "E.164 (+4915112345678), or national with the "
          "server's default region"}
STATUSES = ["pending", "approved", "canceled", "max_attempts_reached"]   # what an answer of this layer may say

# The parameters modemd takes, per operation (params.py's Operation.takes, each described here).
PARAMETERS = {
    "To": NUMBER,
    "Channel": {"type": "string", "enum": [CHANNEL], "description": f"{CHANNEL} only; {', '.join(OTHER_CHANNELS)} "
                "answer 60428 (Unsupported channel)"},
    "Locale": {"type": "string", "maxLength": MAX_LOCALE, "pattern": LOCALE,
               "description": "accepted and not used: modemd sends its one [otp] template"},
    "CustomFriendlyName": {"type": "string", "minLength": 1, "maxLength": MAX_FRIENDLY_NAME,
                           "description": "replaces {app} in the [otp] template for this code"},
    "CustomCode": {**CODE, "description": "the code to send; only for an app with twilio_custom_code = true (else "
                   "60204)"},
    "Status": {"type": "string", "enum": [CANCELED], "description": "approved (manual approval) answers 60204"},
    "Code": CODE,
    "VerificationSid": {"type": "string", "pattern": VERIFICATION_SID},
}


def _form(operation, required: list[str], description: str) -> dict:
    return {"required": True, "description": description + f" Other Twilio parameters of the operation "
            f"({', '.join(operation.not_implemented) or 'none'}) answer 60204; any other name 60200.",
            "content": {FORM: {"schema": {
                "type": "object", "properties": {name: PARAMETERS[name] for name in operation.takes},
                "required": required, "additionalProperties": False, "maxProperties": MAX_FIELDS}}}}


def _json(schema: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{schema}"}}}}


def _errors(*statuses: int) -> dict:
    """Twilio's error body for each of these statuses (errors.py says which code each carries)."""
    retry = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}
    return {str(status): {**_json("Error", "Twilio's error body; `code` says which (docs/twilio.md)"),
                          **({"headers": retry} if status in (429, 503) else {})} for status in statuses}


SERVICE_PARAMETER = {"name": "ServiceSid", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": SERVICE_SID},
                     "description": "the app's twilio_service_sid; any other answers 404"}
VERIFICATION_PARAMETER = {"name": "Sid", "in": "path", "required": True,
                          "schema": {"type": "string", "pattern": VERIFICATION_SID}}
AUTH_ERRORS = (401, 403, 404)

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "modemd: Twilio Verify v2, SMS", "version": __version__,
             "description": "Twilio's Verify v2 Verifications and VerificationCheck at Twilio's paths, the SMS "
                            "channel, for its official clients (base URL: this server's /twilio). HTTP Basic auth: "
                            "the app's name and one of its tokens. Bodies are form-encoded, at most "
                            f"{MAX_BODY} bytes."},
    "servers": [{"url": PREFIX}],
    "security": [{"basic": []}],
    "paths": {
        "/openapi.json": {"get": {"operationId": "twilioOpenApi", "summary": "This document", "security": [],
                                  "responses": {"200": {"description": "the document", "content": {
                                      "application/json": {"schema": {"type": "object"}}}}}}},
        "/v2/Services/{ServiceSid}/Verifications": {"post": {
            "operationId": "CreateVerification", "summary": "Send a code by SMS (or the same code again)",
            "parameters": [SERVICE_PARAMETER],
            "requestBody": _form(CREATE, ["To", "Channel"], "A resend to a number whose code is pending sends that "
                                 "code again (same sid, one more send_code_attempts entry)."),
            "responses": {"201": _json("Verification", "the verification, pending"),
                          **_errors(400, *AUTH_ERRORS, 429, 503)}}},
        "/v2/Services/{ServiceSid}/Verifications/{Sid}": {
            "get": {"operationId": "FetchVerification", "summary": "A live verification",
                    "parameters": [SERVICE_PARAMETER, VERIFICATION_PARAMETER],
                    "responses": {"200": _json("Verification", "pending, or max_attempts_reached"),
                                  **_errors(*AUTH_ERRORS)}},
            "post": {"operationId": "UpdateVerification", "summary": "Cancel a verification",
                     "parameters": [SERVICE_PARAMETER, VERIFICATION_PARAMETER],
                     "requestBody": _form(UPDATE, ["Status"], "Its queued SMS is canceled too."),
                     "responses": {"200": _json("Verification", "canceled"),
                                   **_errors(400, *AUTH_ERRORS, 503)}}},
        "/v2/Services/{ServiceSid}/VerificationCheck": {"post": {
            "operationId": "CreateVerificationCheck", "summary": "Check a code",
            "parameters": [SERVICE_PARAMETER],
            "requestBody": _form(CHECK, ["Code"], "By VerificationSid, or by To (the number's latest code); "
                                 "neither answers 60221."),
            "responses": {"200": _json("VerificationCheck", "approved (valid) or pending (a wrong code)"),
                          **_errors(400, *AUTH_ERRORS, 429, 503)}}},
    },
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic",
                                      "description": "user: the app's name; password: one of its tokens"}},
        "schemas": {
            "Verification": {
                "type": "object", "additionalProperties": False,
                "required": ["sid", "service_sid", "account_sid", "to", "channel", "status", "valid", "lookup",
                             "amount", "payee", "send_code_attempts", "date_created", "date_updated", "sna", "url"],
                "properties": {
                    "sid": {"type": "string", "pattern": VERIFICATION_SID},
                    "service_sid": {"type": "string", "pattern": SERVICE_SID},
                    "account_sid": {**SID, "pattern": SID["pattern"].format("AC")},
                    "to": {"type": "string"}, "channel": {"const": CHANNEL}, "status": {"enum": STATUSES},
                    "valid": {"type": "boolean"}, "lookup": {"type": "object"}, "amount": {"type": "null"},
                    "payee": {"type": "null"}, "sna": {"type": "null"}, "url": {"type": "string", "format": "uri-reference",
                                                     "description": "absolute, unless the Host header was no host"},
                    "date_created": TIMESTAMP, "date_updated": TIMESTAMP,
                    "send_code_attempts": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "additionalProperties": False,
                        "required": ["attempt_sid", "channel", "time"],
                        "properties": {"attempt_sid": {**SID, "pattern": SID["pattern"].format("VL")},
                                       "channel": {"const": CHANNEL},
                                       "time": {"type": ["string", "null"], "format": "date-time",
                                                "description": "the first send's; later ones are not recorded"}}}},
                }},
            "VerificationCheck": {
                "type": "object", "additionalProperties": False,
                "required": ["sid", "service_sid", "account_sid", "to", "channel", "status", "valid", "amount",
                             "payee", "date_created", "date_updated", "sna_attempts_error_codes"],
                "properties": {
                    "sid": {"type": "string", "pattern": VERIFICATION_SID},
                    "service_sid": {"type": "string", "pattern": SERVICE_SID},
                    "account_sid": {**SID, "pattern": SID["pattern"].format("AC")},
                    "to": {"type": ["string", "null"]}, "channel": {"const": CHANNEL},
                    "status": {"enum": ["approved", "pending"]}, "valid": {"type": "boolean"},
                    "amount": {"type": "null"}, "payee": {"type": "null"},
                    "date_created": {**TIMESTAMP, "type": ["string", "null"]}, "date_updated": TIMESTAMP,
                    "sna_attempts_error_codes": {"type": "null"},
                }},
            "Error": {
                "type": "object", "additionalProperties": False,
                "required": ["code", "message", "more_info", "status"],
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                               "more_info": {"type": "string", "format": "uri"},
                               "status": {"type": "integer", "minimum": 400, "maximum": 599}}},
        },
    },
}
