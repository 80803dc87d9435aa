"""+CMS ERROR and +CME ERROR codes: their texts (TS 27.005 3.2.5, TS 27.007 9.2) and what each means for retrying
(pure). The exceptions that carry them, and classify(), are in errors.py.

Policy classes (ErrorClass), from FIELD-NOTES 2.2: TRANSIENT (retry later), PERMANENT (can never succeed as is),
DEVICE_STATE (a human must fix the SIM, subscription or modem), AMBIGUOUS (the message may have left), UNKNOWN.

+CMS ERROR (3GPP TS 27.005 3.2.5; 0-127 are RP causes of TS 24.011 E.2, 128-255 TP-FCS of TS 23.040 9.2.3.22):

    code(s)                          class         why
    1, 27-30                         PERMANENT     unassigned / out of service / unknown subscriber
    8, 10                            DEVICE_STATE  operator barring, call barred
    21                               PERMANENT     SM transfer rejected (the outbox may escalate repeats to S)
    38, 41, 42, 47                   TRANSIENT     network out of order, temporary failure, congestion, resources
    50                               DEVICE_STATE  facility not subscribed (no SMS service or credit)
    69                               PERMANENT     facility not implemented
    81, 111, 127                     TRANSIENT     invalid transfer ref, protocol error, interworking (limited)
    95-99                            PERMANENT     invalid message / IE: our encoder's bug
    128-143, 144, 145, 176           PERMANENT     TP-PID / DCS / class / TPDU not supported
    192, 194                         TRANSIENT     SC busy, SC system failure
    193                              DEVICE_STATE  no SC subscription
    195, 196                         PERMANENT     invalid / barred destination SME
    197                              PERMANENT     duplicate SM: the SC already HAS it; see cms_already_accepted()
    198, 199                         PERMANENT     TP-VPF / TP-VP not supported (fix the config)
    208-213                          DEVICE_STATE  SIM SMS storage full, MS errors
    300, 301                         TRANSIENT     ME failure (after re-init), SMS service reserved
    302                              DEVICE_STATE  operation not allowed (PIN, mode): re-init, then retry once
    303, 304, 305                    PERMANENT     not supported, invalid PDU / text mode parameter
    310-313, 315-318                 DEVICE_STATE  SIM missing / PIN / PUK / failure / wrong
    314                              TRANSIENT     SIM busy (seconds)
    320, 322                         DEVICE_STATE  memory failure / full
    321                              PERMANENT     invalid memory index (a request bug, not a device state;
                                                   FIELD-NOTES groups it with 320/322 - deliberately split)
    330                              DEVICE_STATE  SMSC address unknown (configure AT+CSCA)
    331                              TRANSIENT     no network service
    332                              AMBIGUOUS     network timeout: the submission may have reached the SC
    340                              PERMANENT     no +CNMA ack expected
    500                              TRANSIENT     unknown error (limited retries)
    512+                             TRANSIENT     manufacturer specific (512 user abort, collision on SIM800/
                                                   smstools3, 515 busy, 535 PS busy); limited retries
    anything else                    UNKNOWN

+CME ERROR (3GPP TS 27.007 9.2):

    0, 2, 14, 30, 31, 57, 100, 134,  TRANSIENT     phone failure, link reserved, SIM busy, no network service,
    148, 515                                       network timeout, temp. out of service, unknown, service option
                                                   temporarily out of order, unspecified GPRS error, 515 vendor
                                                   "please wait, init in progress" (python-gsmmodem)
    3, 5-7, 10-13, 15-18, 20, 23,    DEVICE_STATE  operation not allowed, SIM not inserted / PIN / PUK / failure /
    32, 40-47, 53-55, 62, 103, 106,                wrong / incorrect password (never loop PIN attempts), memory,
    107, 111-113, 133                              emergency only, personalisation locks, barring, denied
    1, 4, 21, 22, 24-27, 49-52, 58,  PERMANENT     unsupported / invalid index / not found / bad strings /
    59, 132, 149, 150                              incorrect parameters
    anything else                    UNKNOWN

Verbose error text (AT+CMEE=2, or modems that ignore CMEE=1) maps back to the numeric code case-insensitively
via cme_code_for_text() / cms_code_for_text(), so classification does not depend on the modem's CMEE mode.
"""

from __future__ import annotations

import enum
import re


class ErrorClass(enum.Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    DEVICE_STATE = "device_state"
    AMBIGUOUS = "ambiguous"
    UNKNOWN = "unknown"


T, P, S, A = ErrorClass.TRANSIENT, ErrorClass.PERMANENT, ErrorClass.DEVICE_STATE, ErrorClass.AMBIGUOUS


def _table(*groups: tuple[ErrorClass, tuple[int, ...] | range]) -> dict[int, ErrorClass]:
    return {code: cls for cls, codes in groups for code in codes}


# FIELD-NOTES 2.2 (see the module docstring for the reasons).
CMS_CLASS: dict[int, ErrorClass] = _table(
    (P, (1, 27, 28, 29, 30, 21, 69, 195, 196, 197, 198, 199, 303, 304, 305, 321, 340)),
    (P, range(95, 100)), (P, range(128, 146)), (P, (176,)),
    (S, (8, 10, 50, 193, 302, 310, 311, 312, 313, 315, 316, 317, 318, 320, 322, 330)), (S, range(208, 214)),
    (T, (38, 41, 42, 47, 81, 111, 127, 192, 194, 300, 301, 314, 331, 500)),
    (A, (332,)),
)

CME_CLASS: dict[int, ErrorClass] = _table(
    (T, (0, 2, 14, 30, 31, 57, 100, 134, 148, 515)),
    (S, (3, 5, 6, 7, 10, 11, 12, 13, 15, 16, 17, 18, 20, 23, 32, 53, 54, 55, 62, 103, 106, 107, 111, 112,
         113, 133)), (S, range(40, 48)),
    (P, (1, 4, 21, 22, 24, 25, 26, 27, 49, 50, 51, 52, 58, 59, 132, 149, 150)),
)

# TS 27.007 9.2.1 / 9.2.2 verbose texts.
CME_TEXT: dict[int, str] = {
    0: "phone failure", 1: "no connection to phone", 2: "phone-adaptor link reserved",
    3: "operation not allowed", 4: "operation not supported", 5: "PH-SIM PIN required",
    6: "PH-FSIM PIN required", 7: "PH-FSIM PUK required", 10: "SIM not inserted", 11: "SIM PIN required",
    12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy", 15: "SIM wrong", 16: "incorrect password",
    17: "SIM PIN2 required", 18: "SIM PUK2 required", 20: "memory full", 21: "invalid index", 22: "not found",
    23: "memory failure", 24: "text string too long", 25: "invalid characters in text string",
    26: "dial string too long", 27: "invalid characters in dial string", 30: "no network service",
    31: "network timeout", 32: "network not allowed - emergency calls only",
    40: "network personalization PIN required", 41: "network personalization PUK required",
    42: "network subset personalization PIN required", 43: "network subset personalization PUK required",
    44: "service provider personalization PIN required", 45: "service provider personalization PUK required",
    46: "corporate personalization PIN required", 47: "corporate personalization PUK required",
    48: "hidden key required", 49: "EAP method not supported", 50: "incorrect parameters",
    51: "command implemented but currently disabled", 52: "command aborted by user",
    53: "not attached to network due to MT functionality restrictions",
    54: "modem not allowed - MT restricted to emergency calls only",
    55: "operation not allowed because of MT functionality restrictions", 56: "fixed dial number only allowed",
    57: "temporarily out of service due to other MT usage", 58: "language/alphabet not supported",
    59: "unexpected data value", 60: "system failure", 61: "data missing", 62: "call barred",
    63: "message waiting indication subscription failure", 100: "unknown", 103: "illegal MS",
    106: "illegal ME", 107: "GPRS services not allowed", 111: "PLMN not allowed",
    112: "location area not allowed", 113: "roaming not allowed in this location area",
    132: "service option not supported", 133: "requested service option not subscribed",
    134: "service option temporarily out of order", 148: "unspecified GPRS error",
    149: "PDP authentication failure", 150: "invalid mobile class",
    515: "please wait, init or command processing in progress (vendor)",
}

# TS 27.005 3.2.5 (300-500), TS 24.011 E.2 RP causes, TS 23.040 9.2.3.22 TP-FCS; 512+ from gammu / smstools3.
CMS_TEXT: dict[int, str] = {
    1: "unassigned (unallocated) number", 8: "operator determined barring", 10: "call barred",
    21: "short message transfer rejected", 27: "destination out of service", 28: "unidentified subscriber",
    29: "facility rejected", 30: "unknown subscriber", 38: "network out of order", 41: "temporary failure",
    42: "congestion", 47: "resources unavailable, unspecified", 50: "requested facility not subscribed",
    69: "requested facility not implemented", 81: "invalid short message transfer reference value",
    95: "invalid message, unspecified", 96: "invalid mandatory information",
    97: "message type non-existent or not implemented",
    98: "message not compatible with short message protocol state",
    99: "information element non-existent or not implemented", 111: "protocol error, unspecified",
    127: "interworking, unspecified", 128: "telematic interworking not supported",
    129: "short message type 0 not supported", 130: "cannot replace short message",
    143: "unspecified TP-PID error", 144: "data coding scheme (alphabet) not supported",
    145: "message class not supported", 159: "unspecified TP-DCS error", 160: "command cannot be actioned",
    161: "command unsupported", 175: "unspecified TP-Command error", 176: "TPDU not supported",
    192: "SC busy", 193: "no SC subscription", 194: "SC system failure", 195: "invalid SME address",
    196: "destination SME barred", 197: "SM rejected-duplicate SM", 198: "TP-VPF not supported",
    199: "TP-VP not supported", 208: "(U)SIM SMS storage full", 209: "no SMS storage capability in (U)SIM",
    210: "error in MS", 211: "memory capacity exceeded", 212: "(U)SIM application toolkit busy",
    213: "(U)SIM data download error", 255: "unspecified error cause",
    300: "ME failure", 301: "SMS service of ME reserved", 302: "operation not allowed",
    303: "operation not supported", 304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
    310: "(U)SIM not inserted", 311: "(U)SIM PIN required", 312: "PH-(U)SIM PIN required",
    313: "(U)SIM failure", 314: "(U)SIM busy", 315: "(U)SIM wrong", 316: "(U)SIM PUK required",
    317: "(U)SIM PIN2 required", 318: "(U)SIM PUK2 required", 320: "memory failure",
    321: "invalid memory index", 322: "memory full", 330: "SMSC address unknown", 331: "no network service",
    332: "network timeout", 340: "no +CNMA acknowledgement expected", 500: "unknown error",
    512: "user abort / manufacturer specific (vendor)", 515: "invalid character in address (vendor)",
    517: "invalid character in PDU (vendor)", 535: "PS busy (vendor)",
}


def _normalize(text: str) -> str:
    # "(U)SIM" is written "SIM" by older modems; hyphens and spacing vary between firmware.
    text = text.strip().strip('"').lower().replace("(u)sim", "sim").replace("-", " ")
    return re.sub(r"\s+", " ", text)


_CME_BY_TEXT = {_normalize(text): code for code, text in CME_TEXT.items() if code < 512}
_CMS_BY_TEXT = {_normalize(text): code for code, text in CMS_TEXT.items() if code < 512}
_CMS_BY_TEXT.setdefault(_normalize("SIM not inserted"), 310)


def cme_code_for_text(text: str) -> int | None:
    """'SIM PIN required' -> 11 (case-insensitive); None if the text is not a TS 27.007 9.2 string."""
    return _CME_BY_TEXT.get(_normalize(text))


def cms_code_for_text(text: str) -> int | None:
    """'unknown error' -> 500 (case-insensitive); None if the text is not a known 27.005 / 24.011 string."""
    return _CMS_BY_TEXT.get(_normalize(text))


def cme_meaning(code: int | None) -> str:
    if code is None:
        return "unknown"
    return CME_TEXT.get(code, f"CME error {code}" + (" (manufacturer specific)" if code >= 256 else ""))


def cms_meaning(code: int | None) -> str:
    if code is None:
        return "unknown"
    if code in CMS_TEXT:
        return CMS_TEXT[code]
    return f"CMS error {code}" + (" (manufacturer specific)" if code >= 512 else "")


def cms_class(code: int | None) -> ErrorClass:
    if code is None:
        return ErrorClass.UNKNOWN
    if code >= 512:
        return ErrorClass.TRANSIENT
    return CMS_CLASS.get(code, ErrorClass.UNKNOWN)


def cme_class(code: int | None) -> ErrorClass:
    return ErrorClass.UNKNOWN if code is None else CME_CLASS.get(code, ErrorClass.UNKNOWN)
