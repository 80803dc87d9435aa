"""What a phone running SMS Gateway for Android says when a send fails, and what it means for retrying (pure).

The app reports a failed recipient with an error text made from Android's SmsManager result code, e.g.
"Send result: RESULT_ERROR_NO_SERVICE (Failed because service is currently unavailable)" (MessagesService's
"Send result: " + resultToErrorMessage in capcom6/android-sms-gateway). The cause is the RESULT_* name in it; each is classified as its nearest +CMS
ERROR is in error_codes.py (FIELD-NOTES 2.2), so a phone's failure takes the outbox path an AT modem's would:

    cause                                   like CMS      class         why
    RESULT_ERROR_GENERIC_FAILURE            500           TRANSIENT     unknown failure: limited retries
    RESULT_ERROR_RADIO_OFF                  (CFUN=0)      DEVICE_STATE  airplane mode: a human must turn it off
    RESULT_RADIO_NOT_AVAILABLE              300           DEVICE_STATE  the radio is down: pause the phone
    RESULT_ERROR_NO_SERVICE                 331           TRANSIENT     no network service (the driver also marks
                                                                        the phone not registered, as +CREG would)
    RESULT_ERROR_LIMIT_EXCEEDED             (-)           DEVICE_STATE  Android's own send-rate limit: pause it
    RESULT_ERROR_FDN_CHECK_FAILURE          10            DEVICE_STATE  fixed dialling numbers bar the send
    RESULT_ERROR_SHORT_CODE_(NEVER_)NOT_ALLOWED 196       PERMANENT     the user denied sending to a short code
    RESULT_ERROR_NULL_PDU, RESULT_INVALID_* 304/96        PERMANENT     a request the phone cannot encode
    RESULT_ENCODING_ERROR, ..._SMS_FORMAT   144           PERMANENT
    RESULT_NETWORK_REJECT                   21            PERMANENT     SM transfer rejected
    RESULT_INVALID_SMSC_ADDRESS             330           DEVICE_STATE  the SIM has no usable SMSC
    RESULT_OPERATION_NOT_ALLOWED            302           DEVICE_STATE
    RESULT_NETWORK_ERROR, ..._MODEM_ERROR   38/300        TRANSIENT
    RESULT_SYSTEM_ERROR, RESULT_NO_MEMORY   300           TRANSIENT
    RESULT_NO_RESOURCES, RESULT_INTERNAL_ERROR            TRANSIENT
    anything else (texts of the app's own)                UNKNOWN       retried with the usual limit

HTTP answers of the local server itself: 400 (a request it refuses) is PERMANENT, 401/403 (wrong credentials: a
human must fix the config) DEVICE_STATE, 429 and 5xx TRANSIENT (nothing was queued on the phone).
"""

from __future__ import annotations

import re

from .error_codes import ErrorClass

CAUSE_CLASS: dict[str, ErrorClass] = {
    "RESULT_ERROR_GENERIC_FAILURE": ErrorClass.TRANSIENT,
    "RESULT_ERROR_RADIO_OFF": ErrorClass.DEVICE_STATE,
    "RESULT_RADIO_NOT_AVAILABLE": ErrorClass.DEVICE_STATE,
    "RESULT_ERROR_NO_SERVICE": ErrorClass.TRANSIENT,
    "RESULT_ERROR_LIMIT_EXCEEDED": ErrorClass.DEVICE_STATE,
    "RESULT_ERROR_FDN_CHECK_FAILURE": ErrorClass.DEVICE_STATE,
    "RESULT_ERROR_SHORT_CODE_NOT_ALLOWED": ErrorClass.PERMANENT,
    "RESULT_ERROR_SHORT_CODE_NEVER_ALLOWED": ErrorClass.PERMANENT,
    "RESULT_ERROR_NULL_PDU": ErrorClass.PERMANENT,
    "RESULT_INVALID_ARGUMENTS": ErrorClass.PERMANENT,
    "RESULT_INVALID_SMS_FORMAT": ErrorClass.PERMANENT,
    "RESULT_ENCODING_ERROR": ErrorClass.PERMANENT,
    "RESULT_REQUEST_NOT_SUPPORTED": ErrorClass.PERMANENT,
    "RESULT_NETWORK_REJECT": ErrorClass.PERMANENT,
    "RESULT_INVALID_SMSC_ADDRESS": ErrorClass.DEVICE_STATE,
    "RESULT_OPERATION_NOT_ALLOWED": ErrorClass.DEVICE_STATE,
    "RESULT_INVALID_STATE": ErrorClass.DEVICE_STATE,
    "RESULT_NETWORK_ERROR": ErrorClass.TRANSIENT,
    "RESULT_MODEM_ERROR": ErrorClass.TRANSIENT,
    "RESULT_SYSTEM_ERROR": ErrorClass.TRANSIENT,
    "RESULT_NO_MEMORY": ErrorClass.TRANSIENT,
    "RESULT_NO_RESOURCES": ErrorClass.TRANSIENT,
    "RESULT_INTERNAL_ERROR": ErrorClass.TRANSIENT,
}
# The causes after which the phone says, in effect, "no network": it is reported not registered until /health
# answers again (the driver's reading of registration, which Android does not expose over the local server).
NO_NETWORK_CAUSES = frozenset({"RESULT_ERROR_NO_SERVICE"})
_CAUSE = re.compile(r"\b(RESULT_[A-Z0-9_]+)")


def cause_of(error_text: str | None) -> str:
    """The RESULT_* name in an error text, or "" for a text of the app's own ("SIM 2 not found")."""
    match = _CAUSE.search(error_text or "")
    return match.group(1) if match else ""


def cause_class(cause: str) -> ErrorClass:
    return CAUSE_CLASS.get(cause, ErrorClass.UNKNOWN)


def http_class(status: int) -> ErrorClass:
    """A refusal by the local server itself (nothing was queued on the phone)."""
    if status in (401, 403):
        return ErrorClass.DEVICE_STATE
    if status == 429 or status >= 500:
        return ErrorClass.TRANSIENT
    if 400 <= status < 500:
        return ErrorClass.PERMANENT
    return ErrorClass.UNKNOWN
