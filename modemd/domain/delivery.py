"""What delivery reports mean for an outbound message. Pure: no I/O.

A report (SMS-STATUS-REPORT, TS 23.040 9.2.2.3) names one part by its TP-MR and says in TP-ST (9.2.3.15) what the
service centre did with it:

    0x00-0x1F  completed: delivered (0x00), forwarded without confirmation (0x01), replaced (0x02), SC-specific
    0x20-0x3F  temporary error, the SC is still trying: wait for the next report
    0x40-0x5F  permanent error: the SC gave up for good
    0x60-0x7F  temporary error, the SC is not trying any more: as final as a permanent one
    0x80-0xFF  bit 7 set, reserved: counted as a failure (what no network should send is not a delivery)

A message of several parts is settled from all its parts' latest reports: delivered once every part completed,
failed as soon as one part failed (the handset cannot show a message with a part missing), else still sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from .sms import State


class Meaning(str, enum.Enum):
    COMPLETED = "completed"
    TRYING = "trying"              # temporary error, the SC still tries
    PERMANENT = "permanent"
    GAVE_UP = "gave up"            # temporary error, the SC no longer tries
    RESERVED = "reserved"


def meaning(status: int) -> Meaning:
    """TS 23.040 9.2.3.15: the class of a TP-ST value is in its bits 5 and 6; bit 7 is reserved."""
    if not 0 <= status <= 0xFF:
        raise ValueError(f"TP-ST is one octet, not {status}")
    if status & 0x80:
        return Meaning.RESERVED
    return (Meaning.COMPLETED, Meaning.TRYING, Meaning.PERMANENT, Meaning.GAVE_UP)[status >> 5]


def is_failure(status: int) -> bool:
    """The SC will not deliver this part: a permanent error, a temporary one it gave up on, or a reserved value."""
    return meaning(status) in (Meaning.PERMANENT, Meaning.GAVE_UP, Meaning.RESERVED)


# TS 23.040 9.2.3.15, the values it names (the others are reserved or specific to a service centre).
_TEXT = {0x00: "delivered", 0x01: "forwarded, delivery not confirmed", 0x02: "replaced",
         0x40: "remote procedure error", 0x41: "incompatible destination", 0x42: "connection rejected by SME",
         0x43: "not obtainable", 0x44: "quality of service not available", 0x45: "no interworking available",
         0x46: "validity period expired", 0x47: "deleted by originating SME", 0x48: "deleted by SC",
         0x49: "message does not exist", 0x60: "congestion (gave up)", 0x61: "SME busy (gave up)",
         0x62: "no response from SME (gave up)", 0x63: "service rejected (gave up)",
         0x64: "quality of service not available (gave up)", 0x65: "error in SME (gave up)"}


def describe(status: int) -> str:
    """What a failed part's TP-ST says, for the message's error_text."""
    return _TEXT.get(status, f"failed (TP-ST 0x{status:02X})")


@dataclass(frozen=True)
class Settlement:
    """The outcome of a sent message its reports decided: the state it moves to and what the move records."""
    state: State                   # DELIVERED or FAILED
    reason: str                    # the lifecycle event's reason
    status: int | None = None      # the failed part's TP-ST
    error_code: str | None = None
    error_text: str | None = None


def settle(statuses: Sequence[int | None]) -> Settlement | None:
    """The latest TP-ST of each part, in part order (None: no report yet) -> the message's outcome, or None while
    it is still open. The first failed part names the failure."""
    failed = next((s for s in statuses if s is not None and is_failure(s)), None)
    if failed is not None:
        text = describe(failed)
        return Settlement(State.FAILED, f"delivery report: {text}", failed, f"ST {failed}", text)
    if statuses and all(s is not None and meaning(s) is Meaning.COMPLETED for s in statuses):
        return Settlement(State.DELIVERED, "delivery report")
    return None
