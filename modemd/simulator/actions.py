"""What the pure dialect asks its host to do, in order (bytes to write, pauses, side effects)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Out:
    data: bytes                       # echo, responses, URCs: written to the pty master as they are


@dataclass(frozen=True)
class UrcSlot:
    """Between information text and final result code: where a modem may slip in a URC (urc_inside_response)."""


@dataclass(frozen=True)
class Sleep:
    seconds: float                    # the network (or SIM) takes this long; input waits meanwhile


@dataclass(frozen=True)
class Submitted:
    part: "SubmittedPart"             # one SMS-SUBMIT the network accepted: goes to the handset


@dataclass(frozen=True)
class Replug:
    seconds: float                    # AT+CFUN=1,1 on a USB modem: the ports vanish and come back


@dataclass(frozen=True)
class ReportLater:
    seconds: float                    # Faults.auto_status_report: a "delivered" +CDS for this part, later
    message_reference: int
    recipient: str


@dataclass(frozen=True)
class SubmittedPart:
    """One part as the network saw it. concat is (ref, total, seq) or None for a single SMS."""
    to: str
    text: str
    encoding: str                     # gsm7 | ucs2 | 8bit
    concat: tuple[int, int, int] | None
    message_reference: int
    status_report_requested: bool
    validity: int | None              # seconds of a relative TP-VP, None if absent
    mode: str                         # "pdu" | "text"
    pdu: str | None = None            # the hex as received (PDU mode)
