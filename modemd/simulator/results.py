"""Final result codes and the errors handlers raise (pure).

Verbose texts are those of TS 27.007 9.2 (+CME) and TS 27.005 3.2.5 (+CMS), as Quectel prints them with CMEE=2.
"""
from __future__ import annotations

CME_TEXT = {
    0: "phone failure", 1: "no connection to phone", 2: "phone-adaptor link reserved",
    3: "operation not allowed", 4: "operation not supported", 5: "PH-SIM PIN required",
    10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure",
    14: "SIM busy", 15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required",
    18: "SIM PUK2 required", 20: "memory full", 21: "invalid index", 22: "not found",
    23: "memory failure", 24: "text string too long", 25: "invalid characters in text string",
    26: "dial string too long", 27: "invalid characters in dial string", 30: "no network service",
    31: "network timeout", 32: "network not allowed - emergency calls only", 50: "Incorrect parameters",
    100: "unknown",
}

CMS_TEXT = {
    300: "ME failure", 301: "SMS service of ME reserved", 302: "operation not allowed",
    303: "operation not supported", 304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
    310: "SIM not inserted", 311: "SIM PIN required", 312: "PH-SIM PIN required", 313: "SIM failure",
    314: "SIM busy", 315: "SIM wrong", 316: "SIM PUK required", 317: "SIM PIN2 required",
    318: "SIM PUK2 required", 320: "memory failure", 321: "invalid memory index", 322: "memory full",
    330: "SMSC address unknown", 331: "no network service", 332: "network timeout",
    340: "no +CNMA acknowledgement expected", 500: "unknown error",
}

# +CME codes for the SIM states (TS 27.007 9.2.1), and their +CMS twins (TS 27.005 3.2.5) for SMS commands.
SIM_STATE_CME = {"SIM PIN": 11, "SIM PUK": 12, "NOT INSERTED": 10, "BLOCKED": 13}
SIM_STATE_CMS = {"SIM PIN": 311, "SIM PUK": 316, "NOT INSERTED": 310, "BLOCKED": 313}


class AtFailure(Exception):
    """Raised by a command handler: stops the command line, the dialect prints the final result code."""


class PlainError(AtFailure):
    """Final result ERROR (V.250 5.7.1): unknown command or bad syntax."""


class CmeFailure(AtFailure):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class CmsFailure(AtFailure):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def final_text(failure: AtFailure | None, cmee: int) -> str:
    """The final result code line. +CME follows CMEE (0: plain ERROR; 1: numeric; 2: verbose, TS 27.007 9.1).
    +CMS is a final result code of its own (TS 27.005 3.2.5), so EC25 prints it even with CMEE=0; verbose only
    with CMEE=2 and only where a standard text exists (RP/TP causes stay numeric, as on Quectel firmware)."""
    if failure is None:
        return "OK"
    if isinstance(failure, CmeFailure):
        if cmee == 0:
            return "ERROR"
        if cmee == 2 and failure.code in CME_TEXT:
            return f"+CME ERROR: {CME_TEXT[failure.code]}"
        return f"+CME ERROR: {failure.code}"
    if isinstance(failure, CmsFailure):
        if cmee == 2 and failure.code in CMS_TEXT:
            return f"+CMS ERROR: {CMS_TEXT[failure.code]}"
        return f"+CMS ERROR: {failure.code}"
    return "ERROR"
