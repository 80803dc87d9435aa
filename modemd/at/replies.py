"""The text of information lines and URCs -> typed values (pure: no I/O, no asyncio). A parser here reads one
line (or picks it out of a command's lines) and checks it has the shape its spec clause gives it; what the value
means to a modem is decided in the modem layer.

The field syntax is TS 27.007 4.1 (commas separate, double quotes protect commas); each parser cites its command's
clause. A line with the wrong shape raises ReplyParseError (a ValueError), never returns a guess, except where a
form is legitimately absent (`parse_cds_length`, `parse_cmt_length` return None for the text-mode forms).

Split from codec.py (which keeps the byte stream, prompts and final result codes) along that seam: framing decides
where a reply ends, these parsers what it says.
"""

from __future__ import annotations

from typing import NamedTuple


class ReplyParseError(ValueError):
    """An information line that does not have the shape the command's spec clause gives it."""


class Field(NamedTuple):
    value: str
    quoted: bool


def split_fields(text: str) -> list[Field]:
    """'1,"a,b",,3' -> [1, a,b (quoted), '', 3]: commas inside double quotes do not split (TS 27.007 4.1)."""
    fields: list[Field] = []
    current, quoted, in_quotes = [], False, False
    for ch in text:
        if ch == '"':
            in_quotes, quoted = not in_quotes, True
        elif ch == "," and not in_quotes:
            fields.append(Field("".join(current).strip(), quoted))
            current, quoted = [], False
        else:
            current.append(ch)
    fields.append(Field("".join(current).strip(), quoted))
    return fields


def _body(line: str | list[str], prefix: str) -> str:
    """The part after '<prefix>:'; a list of lines is searched for the first line with that prefix."""
    if isinstance(line, list):
        found = [item for item in line if item.upper().startswith(prefix.upper() + ":")]
        if not found:
            raise ReplyParseError(f"no {prefix}: line in {line!r}")
        line = found[0]
    head, sep, rest = line.strip().partition(":")
    if not sep or head.strip().upper() != prefix.upper():
        raise ReplyParseError(f"not a {prefix}: line: {line!r}")
    return rest.strip()


def _int(field: Field | str, what: str, base: int = 10) -> int:
    value = field.value if isinstance(field, Field) else field
    try:
        return int(value, base)
    except ValueError:
        raise ReplyParseError(f"{what}: {value!r} is not a number") from None


def _opt_int(fields: list[Field], i: int) -> int | None:
    if i >= len(fields) or not fields[i].value:
        return None
    return _int(fields[i], f"field {i}")


def _opt_str(fields: list[Field], i: int) -> str | None:
    return fields[i].value if i < len(fields) and (fields[i].value or fields[i].quoted) else None


def parse_cmgs(line: str | list[str]) -> int:
    """'+CMGS: <mr>[,<scts>|<ackpdu>]' (TS 27.005 3.5.1) -> TP-MR."""
    return _int(split_fields(_body(line, "+CMGS"))[0], "+CMGS <mr>")


class Csq(NamedTuple):
    rssi: int | None   # 0..31 (TS 27.007 8.5), None for 99 = not known
    ber: int | None    # 0..7, None for 99

    @property
    def dbm(self) -> int | None:
        return None if self.rssi is None else -113 + 2 * self.rssi


def parse_csq(line: str | list[str]) -> Csq:
    """'+CSQ: <rssi>,<ber>' (TS 27.007 8.5); 99 means not known or not detectable."""
    fields = split_fields(_body(line, "+CSQ"))
    rssi, ber = _int(fields[0], "+CSQ <rssi>"), _opt_int(fields, 1)
    return Csq(None if rssi == 99 else rssi, None if ber in (99, None) else ber)


class Registration(NamedTuple):
    prefix: str           # "+CREG", "+CEREG" or "+CGREG"
    stat: int             # TS 27.007 7.2: 0 not searching, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming
    n: int | None         # the <n> setting; only in the solicited (AT+CREG?) form
    lac: str | None       # <lac> / <tac>, hex string
    ci: str | None
    act: int | None
    solicited: bool


_REG_PREFIXES = ("+CREG", "+CEREG", "+CGREG")
_MAX_STAT, _MAX_N = 11, 5   # TS 27.007 7.2 / 10.1.22: <stat> 0..11, <n> 0..5


def is_solicited_registration(fields: list[Field]) -> bool:
    """AT+CREG? answers '<n>,<stat>[,...]'; the URC is '<stat>[,"<lac>",...]' (TS 27.007 7.2).

    Both start with a number, so they are told apart by the second field: an unquoted small number is <stat>
    (solicited), a quoted (or absent) one is <lac> (URC). FreeRTOS-Cellular #89 mixed these up.
    """
    if len(fields) < 2 or fields[1].quoted or not fields[1].value.isdigit():
        return False
    return int(fields[1].value) <= _MAX_STAT and fields[0].value.isdigit() and int(fields[0].value) <= _MAX_N


def parse_creg(line: str) -> Registration:
    """+CREG / +CEREG / +CGREG, solicited '<n>,<stat>[,<lac>,<ci>[,<AcT>]]' or URC '<stat>[,<lac>,<ci>[,<AcT>]]'."""
    prefix = line.strip().partition(":")[0].strip().upper()
    if prefix not in _REG_PREFIXES:
        raise ReplyParseError(f"not a registration line: {line!r}")
    fields = split_fields(_body(line, prefix))
    solicited = is_solicited_registration(fields)
    n = _int(fields[0], "<n>") if solicited else None
    rest = fields[1:] if solicited else fields
    return Registration(prefix, _int(rest[0], "<stat>"), n, _opt_str(rest, 1), _opt_str(rest, 2),
                        _opt_int(rest, 3), solicited)


class Cops(NamedTuple):
    mode: int
    format: int | None
    oper: str          # "" when not registered
    act: int | None


def parse_cops_full(line: str | list[str]) -> Cops:
    """'+COPS: <mode>[,<format>,<oper>[,<AcT>]]' (TS 27.007 7.3, read command)."""
    fields = split_fields(_body(line, "+COPS"))
    return Cops(_int(fields[0], "+COPS <mode>"), _opt_int(fields, 1), _opt_str(fields, 2) or "",
                _opt_int(fields, 3))


def parse_cops(line: str | list[str]) -> str:
    """The operator name of a +COPS? answer ("" when not registered); parse_cops_full() has the rest."""
    return parse_cops_full(line).oper


def parse_cpin(line: str | list[str]) -> str:
    """'+CPIN: READY' / 'SIM PIN' / 'SIM PUK' / 'PH-SIM PIN' / 'SIM PIN2' ... (TS 27.007 8.3), upper case."""
    state = _body(line, "+CPIN").strip().strip('"').strip().upper()
    if not state:
        raise ReplyParseError(f"empty +CPIN state: {line!r}")
    return state


def parse_cmti(line: str | list[str]) -> tuple[str, int]:
    """'+CMTI: <mem>,<index>' (TS 27.005 3.4.1): an SMS-DELIVER was stored -> (mem, index)."""
    return _mem_index(line, "+CMTI")


def parse_cdsi(line: str | list[str]) -> tuple[str, int]:
    """'+CDSI: <mem>,<index>' (TS 27.005 3.4.1): an SMS-STATUS-REPORT was stored -> (mem, index)."""
    return _mem_index(line, "+CDSI")


def _mem_index(line: str | list[str], prefix: str) -> tuple[str, int]:
    fields = split_fields(_body(line, prefix))
    if len(fields) < 2:
        raise ReplyParseError(f"{prefix} needs <mem>,<index>: {line!r}")
    return fields[0].value, _int(fields[1], f"{prefix} <index>")


class CmglHeader(NamedTuple):
    index: int
    stat: int            # PDU mode: 0 rec unread, 1 rec read, 2 sto unsent, 3 sto sent (TS 27.005 3.1)
    alpha: str | None
    length: int          # TPDU octets, SMSC field excluded


def parse_cmgl_header(line: str | list[str]) -> CmglHeader:
    """PDU mode '+CMGL: <index>,<stat>,[<alpha>],<length>' (TS 27.005 4.1); the PDU is the next line."""
    fields = split_fields(_body(line, "+CMGL"))
    if len(fields) < 4:
        raise ReplyParseError(f"+CMGL (PDU mode) needs 4 fields: {line!r}")
    return CmglHeader(_int(fields[0], "<index>"), _int(fields[1], "<stat>"), _opt_str(fields, 2),
                      _int(fields[-1], "<length>"))


def parse_cmgr_header(line: str | list[str]) -> tuple[int, str | None, int]:
    """PDU mode '+CMGR: <stat>,[<alpha>],<length>' (TS 27.005 4.3) -> (stat, alpha, length)."""
    fields = split_fields(_body(line, "+CMGR"))
    if len(fields) < 3:
        raise ReplyParseError(f"+CMGR (PDU mode) needs 3 fields: {line!r}")
    return _int(fields[0], "<stat>"), _opt_str(fields, 1), _int(fields[-1], "<length>")


def parse_csca(line: str | list[str]) -> tuple[str, int | None]:
    """'+CSCA: <sca>[,<tosca>]' (TS 27.005 3.3.1) -> (number, type); ("", None) when the SIM has none."""
    fields = split_fields(_body(line, "+CSCA"))
    return fields[0].value, _opt_int(fields, 1)


def parse_cds_length(line: str) -> int | None:
    """PDU mode '+CDS: <length>' -> length; None for the one-line text-mode form (TS 27.005 3.4.1)."""
    fields = split_fields(_body(line, "+CDS"))
    return int(fields[0].value) if len(fields) == 1 and fields[0].value.isdigit() else None


def parse_cmt_length(line: str) -> int | None:
    """PDU mode '+CMT: [<alpha>],<length>' -> length (TPDU octets); None for the text-mode header
    '+CMT: <oa>,[<alpha>],<scts>[,...]' (TS 27.005 3.4.1), which has no TPDU length."""
    fields = split_fields(_body(line, "+CMT"))
    return int(fields[-1].value) if len(fields) <= 2 and fields[-1].value.isdigit() else None


def parse_rssi(line: str) -> int | None:
    """Huawei '^RSSI: <rssi>' (E3372 / E1692 AT reference): the +CSQ scale, 0..31, 99 not known -> None."""
    rssi = _int(split_fields(_body(line, "^RSSI"))[0], "^RSSI <rssi>")
    return None if rssi == 99 else rssi


def parse_smmemfull(line: str) -> str:
    """Huawei '^SMMEMFULL: <mem_type>' (SMS storage full) -> the storage ("" when the modem does not say)."""
    if ":" not in line:
        return ""
    return split_fields(_body(line, "^SMMEMFULL"))[0].value


def is_hex_line(line: str) -> bool:
    """A PDU line: hex digits only (a trailing Ctrl-Z of an echoed payload is allowed)."""
    text = line.rstrip("\x1a").strip()
    return bool(text) and all(ch in "0123456789abcdefABCDEF" for ch in text)
