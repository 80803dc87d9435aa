"""domain/errors.py and domain/error_codes.py: the retry-policy table of FIELD-NOTES 2.2 and the verbose-text
mapping of TS 27.007 / 27.005."""

import pytest

from modemd.domain.error_codes import cme_code_for_text, cme_meaning, cms_code_for_text, cms_meaning
from modemd.domain.errors import (AtError, AtTimeout, ChannelClosed, CmeError, CmsError, CommandError, ErrorClass,
                                  ModemdError, PromptNotReceived, SimLocked, classify, cms_already_accepted)

T, P, S, A, U = (ErrorClass.TRANSIENT, ErrorClass.PERMANENT, ErrorClass.DEVICE_STATE, ErrorClass.AMBIGUOUS,
                 ErrorClass.UNKNOWN)

CMS_POLICY = [
    (1, P), (8, S), (10, S), (21, P), (27, P), (28, P), (29, P), (30, P),
    (38, T), (41, T), (42, T), (47, T), (50, S), (69, P), (81, T), (95, P), (99, P), (111, T), (127, T),
    (128, P), (143, P), (144, P), (145, P), (176, P), (192, T), (193, S), (194, T), (195, P), (196, P),
    (197, P), (198, P), (199, P), (208, S), (213, S),
    (300, T), (301, T), (302, S), (303, P), (304, P), (305, P), (310, S), (311, S), (312, S), (313, S),
    (314, T), (315, S), (316, S), (317, S), (318, S), (320, S), (321, P), (322, S), (330, S), (331, T),
    (332, A), (340, P), (500, T), (512, T), (515, T), (535, T),
    (2, U), (255, U), (400, U),
]

CME_POLICY = [
    (10, S), (11, S), (12, S), (13, S), (14, T), (16, S), (30, T), (31, T), (3, S), (4, P), (21, P), (22, P),
    (100, T), (515, T), (40, S), (47, S), (107, S), (50, P), (9, U), (999, U),
]


@pytest.mark.parametrize("code, expected", CMS_POLICY)
def test_cms_policy(code, expected):
    assert classify(CmsError(code)) is expected


@pytest.mark.parametrize("code, expected", CME_POLICY)
def test_cme_policy(code, expected):
    assert classify(CmeError(code)) is expected


@pytest.mark.parametrize("exc, expected", [
    (AtTimeout(), T),
    (AtTimeout(after_payload=True), A),              # PDU + Ctrl-Z went out, no answer: may have been sent
    (ChannelClosed(), T),
    (ChannelClosed(after_payload=True), A),          # EIO after the payload: same ambiguity
    (PromptNotReceived(), T),                        # nothing was submitted
    (CommandError("ERROR"), U),
    (SimLocked("PUK", permanent=True), S),
    (CmsError(None, "something vendor specific"), U),
    (ValueError("not ours"), U),
])
def test_classify_other_exceptions(exc, expected):
    assert classify(exc) is expected


def test_hierarchy():
    for cls in (CommandError, CmeError, CmsError, AtTimeout, PromptNotReceived, ChannelClosed):
        assert issubclass(cls, AtError) and issubclass(cls, ModemdError)
    assert issubclass(SimLocked, ModemdError) and not issubclass(SimLocked, AtError)


def test_retryable_follows_the_policy():
    assert CmsError(42).retryable and CmeError(14).retryable and AtTimeout().retryable
    assert not CmsError(1).retryable and not CmsError(332).retryable
    assert not AtTimeout(after_payload=True).retryable
    assert not CmeError(11).retryable
    exc = CommandError("ERROR")
    exc.retryable = True                      # a caller that knows better may override
    assert exc.retryable


def test_message_carries_code_meaning_and_command():
    exc = CmsError(42, command="AT+CMGS=23")
    assert exc.code == 42 and exc.text == "congestion" and exc.command == "AT+CMGS=23"
    assert "+CMS ERROR 42" in str(exc) and "congestion" in str(exc) and "AT+CMGS=23" in str(exc)


@pytest.mark.parametrize("text, code", [
    ("SIM not inserted", 10), ("SIM PIN required", 11), ("sim puk required", 12), ("SIM failure", 13),
    ("SIM busy", 14), ("incorrect password", 16), ("no network service", 30), ("operation not supported", 4),
    ("Operation not allowed", 3), ("  phone failure ", 0), ('"memory full"', 20),
    ("network not allowed - emergency calls only", 32), ("PH-SIM PIN required", 5), ("unknown", 100),
])
def test_cme_verbose_text_maps_to_code(text, code):
    assert cme_code_for_text(text) == code


@pytest.mark.parametrize("text, code", [
    ("unknown error", 500), ("UNKNOWN ERROR", 500), ("ME failure", 300), ("operation not allowed", 302),
    ("invalid PDU mode parameter", 304), ("SIM not inserted", 310), ("(U)SIM not inserted", 310),
    ("SIM PIN required", 311), ("SMSC address unknown", 330), ("network timeout", 332),
    ("no network service", 331), ("memory full", 322), ("congestion", 42), ("temporary failure", 41),
])
def test_cms_verbose_text_maps_to_code(text, code):
    assert cms_code_for_text(text) == code


def test_unknown_verbose_text_is_none():
    assert cme_code_for_text("flux capacitor empty") is None
    assert cms_code_for_text("") is None


def test_meanings():
    assert cms_meaning(332) == "network timeout"
    assert "manufacturer specific" in cms_meaning(600)
    assert cms_meaning(None) == "unknown"
    assert cme_meaning(14) == "SIM busy"
    assert cme_meaning(7777).startswith("CME error 7777")


def test_duplicate_sm_counts_as_accepted():
    assert cms_already_accepted(CmsError(197))
    assert not cms_already_accepted(CmsError(42)) and not cms_already_accepted(CmeError(197))


def test_verbose_error_text_kept_when_code_unknown():
    exc = CmeError(None, "some vendor text")
    assert exc.code is None and exc.text == "some vendor text" and "some vendor text" in str(exc)
