"""Unsolicited result codes: the URC table and the assembly of multi-line URCs. Pure: no I/O, no asyncio.

* ``URC_KINDS``: every URC prefix we recognise and how many lines it takes (explicit data, no dispatch by string
  building).
* ``urc_name(line)``: the URC_KINDS key a line starts with, or None.
* ``UrcAssembler``: turns a URC's first line, and the lines after it, into complete ``Urc`` records (+CMT / +CDS
  in PDU mode carry the PDU on a second line; a +CUSD text may span lines inside its quotes).
* ``is_registration_answer(line)``: +CREG/+CEREG/+CGREG as the answer to a read command rather than a URC.

router.py decides whether a line is a URC at all (it may be the pending command's own response), and the channel
hands the complete Urc to its on_urc handler. What a URC means is the modem layer's business (modem/urcs.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from .replies import is_hex_line, is_solicited_registration, parse_cds_length, split_fields

SINGLE, TWO_LINE, CDS, QUOTED = "single", "two-line", "cds", "quoted"
URC_KINDS: dict[str, str] = {
    "+CMTI": SINGLE, "+CDSI": SINGLE,                  # TS 27.005 3.4.1 stored SMS / status report
    "+CMT": TWO_LINE,                                  # header, then the PDU (or text) line
    "+CDS": CDS,                                       # PDU mode: '+CDS: <length>' then the PDU line
    "+CREG": SINGLE, "+CEREG": SINGLE, "+CGREG": SINGLE,   # TS 27.007 7.2 / 10.1.22 / 10.1.20
    "RING": SINGLE, "+CRING": SINGLE, "+CLIP": SINGLE, "+CIEV": SINGLE, "+CGEV": SINGLE,
    "+CUSD": QUOTED,                                   # the USSD text may span lines inside its quotes
    "+CPIN": SINGLE, "+CFUN": SINGLE, "RDY": SINGLE,   # Quectel/SIMCom boot sequence
    "^RSSI": SINGLE, "^HCSQ": SINGLE, "^BOOT": SINGLE, "^MODE": SINGLE, "^SRVST": SINGLE,
    "^SIMST": SINGLE, "^SMMEMFULL": SINGLE,            # Huawei (E3372, E1692 ...); ^SMMEMFULL: SMS storage full
    "+QIND": SINGLE, "+QUSIM": SINGLE,                 # Quectel
    "SMS READY": SINGLE, "CALL READY": SINGLE, "+PBREADY": SINGLE, "NORMAL POWER DOWN": SINGLE,  # SIMCom
}
REGISTRATION = ("+CREG", "+CEREG", "+CGREG")
MAX_URC_LINES = 8   # a +CUSD with an unbalanced quote ends here at the latest


@dataclass(frozen=True)
class Urc:
    name: str                 # "+CMTI", "RING", "^RSSI", "+QIND", ... (a URC_KINDS key)
    line: str                 # the whole line (lines joined by "\n" for a multi-line +CUSD)
    body: str | None = None   # second line of a two-line URC (+CMT, +CDS): the PDU hex


def urc_name(line: str) -> str | None:
    """The URC_KINDS key this line starts with, or None."""
    name = line.partition(":")[0].strip().upper() if ":" in line else line.strip().upper()
    return name if name in URC_KINDS else None


def is_registration_answer(line: str) -> bool:
    """A +CREG/+CEREG/+CGREG line shaped like the answer to the read command (<n>,<stat>...), not a URC."""
    return is_solicited_registration(split_fields(line.partition(":")[2]))


class UrcAssembler:
    """Collects the lines of one multi-line URC at a time; hands back each URC once it is complete."""

    def __init__(self) -> None:
        self._open: tuple[str, str, str] | None = None   # (name, text so far, kind) of a multi-line URC

    @property
    def is_open(self) -> bool:
        return self._open is not None

    def reset(self) -> None:
        self._open = None

    def start(self, name: str, line: str) -> Urc | None:
        """The first line of URC `name`: the Urc if it is complete, None when more lines must follow."""
        kind = URC_KINDS[name]
        if kind == TWO_LINE or (kind == CDS and parse_cds_length(line) is not None) \
                or (kind == QUOTED and line.count('"') % 2):
            self._open = (name, line, kind)
            return None
        return Urc(name, line)

    def feed(self, line: str) -> tuple[Urc | None, bool]:
        """Feed a line to the open URC: (the URC if now complete, whether the line was part of it).

        A line that is not part of it (False) still needs handling by the caller."""
        name, head, kind = self._open
        if kind == QUOTED:
            text = head + "\n" + line
            if text.count('"') % 2 and text.count("\n") < MAX_URC_LINES:
                self._open = (name, text, kind)
                return None, True
            self._open = None
            return Urc(name, text), True
        self._open = None
        if _pdu_mode_header(head) and not is_hex_line(line):
            return Urc(name, head), False   # the PDU never came; let this line be what it is
        return Urc(name, head, line), True


def _pdu_mode_header(head: str) -> bool:
    """'+CMT: [<alpha>],<length>' / '+CDS: <length>' (PDU mode, TS 27.005 3.4.1): the body must be hex."""
    fields = split_fields(head.partition(":")[2])
    return len(fields) <= 2 and fields[-1].value.isdigit()
