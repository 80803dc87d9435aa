"""A phone's failures are classified like +CMS ERROR codes (FIELD-NOTES 2.2): the app's error texts as it writes
them (MessagesService.resultToErrorMessage in capcom6/android-sms-gateway), HTTP refusals of its local server."""

from __future__ import annotations

import pytest

from modemd.domain.errors import ErrorClass, PhoneRefused, PhoneSendFailed, classify
from modemd.domain.phone_errors import cause_of

T, P, S, U = ErrorClass.TRANSIENT, ErrorClass.PERMANENT, ErrorClass.DEVICE_STATE, ErrorClass.UNKNOWN


@pytest.mark.parametrize("text,cause,kind", [
    ("Send result: RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)", "RESULT_ERROR_GENERIC_FAILURE", T),
    ("RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)", "RESULT_ERROR_GENERIC_FAILURE", T),
    ("RESULT_ERROR_RADIO_OFF (Failed because radio was explicitly turned off)", "RESULT_ERROR_RADIO_OFF", S),
    ("RESULT_ERROR_NO_SERVICE (Failed because service is currently unavailable)", "RESULT_ERROR_NO_SERVICE", T),
    ("RESULT_ERROR_LIMIT_EXCEEDED (Failed because we reached the sending queue limit)",
     "RESULT_ERROR_LIMIT_EXCEEDED", S),
    ("RESULT_ERROR_FDN_CHECK_FAILURE (Failed because FDN is enabled)", "RESULT_ERROR_FDN_CHECK_FAILURE", S),
    ("RESULT_ERROR_SHORT_CODE_NEVER_ALLOWED (Failed because the user has denied this app ever send premium short "
     "codes)", "RESULT_ERROR_SHORT_CODE_NEVER_ALLOWED", P),
    ("RESULT_ERROR_NULL_PDU (Failed because no PDU provided)", "RESULT_ERROR_NULL_PDU", P),
    ("RESULT_NETWORK_REJECT (Failed because of network rejection)", "RESULT_NETWORK_REJECT", P),
    ("RESULT_NETWORK_ERROR (Failed because of a network error)", "RESULT_NETWORK_ERROR", T),
    ("RESULT_INVALID_SMSC_ADDRESS (Failed because SMSC address is invalid)", "RESULT_INVALID_SMSC_ADDRESS", S),
    ("SIM 2 not found", "", U),
    ("TTL expired", "", U),
    ("", "", U),
])
def test_phone_failures_are_classified_like_cms_errors(text, cause, kind):
    exc = PhoneSendFailed(text)
    assert (cause_of(text), exc.cause, classify(exc)) == (cause, cause, kind)
    assert str(exc).startswith("phone: ")


@pytest.mark.parametrize("status,kind", [(400, P), (404, P), (401, S), (403, S), (429, T), (500, T), (503, T)])
def test_http_refusals_of_the_local_server(status, kind):
    assert classify(PhoneRefused(status, "x")) is kind


def test_the_outbox_records_the_cause_as_the_error_code():
    from modemd.services.outbox.worker import _error_code
    assert _error_code(PhoneSendFailed("RESULT_ERROR_NO_SERVICE (x)")) == "RESULT_ERROR_NO_SERVICE"
    assert _error_code(PhoneSendFailed("SIM 2 not found")) == "phone_error"
    assert _error_code(PhoneRefused(401)) == "HTTP 401"
