"""AT byte stream -> events, final result codes, and reply parsers (pure: no I/O, no asyncio).

AtCodec.feed(bytes) -> [LineReceived | PromptReceived]. Any of CR, LF, CRLF, LFCR ends a line (V.250 says
S3/S4, but firmware mixes them: SIM800 sends a lone CR before some URCs, some Huawei firmware LFCR); blank lines
are dropped, NUL bytes are removed, bytes that are not ASCII become U+FFFD; nothing here ever raises on input.
A line without terminator is cut at MAX_LINE so garbage cannot grow memory without bound.

The "> " prompt of AT+CMGS (TS 27.005 3.5.1) has no trailing CRLF, so it is reported on its own, and only while
`expect_prompt` is set: a '>' at the start of ordinary text must stay text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Union

from ..domain.errors import (AtError, CmeError, CmsError, CommandError, cme_code_for_text,
                             cms_code_for_text)

# Longest line we keep: a +CMGL/+CMGR PDU line is at most ~2*(12+176)=376 hex chars; 4 KiB leaves room for
# long +CUSD / ^SYSCFGEX test answers and still bounds a stream of garbage with no newline.
MAX_LINE = 4096

_TERMINATORS = re.compile(rb"[\r\n]")


@dataclass(frozen=True)
class LineReceived:
    text: str
    truncated: bool = False     # cut at MAX_LINE without a terminator


@dataclass(frozen=True)
class PromptReceived:
    pass


Event = Union[LineReceived, PromptReceived]


class AtCodec:
    def __init__(self) -> None:
        self.expect_prompt = False
        self._buf = b""

    def reset(self) -> None:
        self._buf = b""
        self.expect_prompt = False

    @property
    def pending(self) -> bytes:
        """Bytes received after the last line terminator (for tests and diagnostics)."""
        return self._buf

    def feed(self, data: bytes) -> list[Event]:
        data = data.replace(b"\0", b"")
        events: list[Event] = []
        if _TERMINATORS.search(data):
            parts = _TERMINATORS.split(self._buf + data)
            self._buf = parts.pop()
            events = [LineReceived(text) for text in map(_decode, parts) if text]
        else:   # no line ends here (byte-at-a-time delivery): do not rescan the whole partial line
            self._buf += data
        while len(self._buf) > MAX_LINE:
            chunk, self._buf = self._buf[:MAX_LINE], self._buf[MAX_LINE:]
            events.append(LineReceived(_decode(chunk), truncated=True))
        if self.expect_prompt and self._buf in (b">", b"> "):
            self._buf = b""
            events.append(PromptReceived())
        return events


def _decode(raw: bytes) -> str:
    return raw.decode("ascii", errors="replace").strip(" \t")


# ---- final result codes (V.250 5.7.1, TS 27.007 9.2, TS 27.005 3.2.5) ---------------------------------------------

OK, ERROR, CME, CMS = "OK", "ERROR", "+CME ERROR", "+CMS ERROR"
# Dial results end a command too (V.250 6.3.1); "COMMAND NOT SUPPORT" (ZTE, Huawei) and "TOO MANY PARAMETERS"
# (Huawei) are vendor spellings of ERROR: without them such a command would run into its timeout.
_ERROR_WORDS = ("ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "COMMAND NOT SUPPORT",
                "TOO MANY PARAMETERS")
_CODED = re.compile(r"^\+(CME|CMS) ERROR\s*:?\s*(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Final:
    kind: str                 # OK, ERROR, "+CME ERROR", "+CMS ERROR", or a dial result such as "NO CARRIER"
    code: int | None = None   # +CME/+CMS numeric code (verbose text is mapped back to it)
    text: str = ""            # the verbose text or the word itself

    @property
    def ok(self) -> bool:
        return self.kind == OK

    def to_error(self, command: str | None = None) -> AtError | None:
        """The exception this final result code stands for (None for OK)."""
        if self.kind == CME:
            return CmeError(self.code, self.text, command=command)
        if self.kind == CMS:
            return CmsError(self.code, self.text, command=command)
        if self.kind == OK:
            return None
        return CommandError(self.text or self.kind, command=command)


def parse_final(line: str) -> Final | None:
    text = line.strip()
    upper = text.upper()
    if upper == OK:
        return Final(OK, text=OK)
    if upper in _ERROR_WORDS:
        return Final(ERROR if upper == ERROR else upper, text=upper)
    match = _CODED.match(text)
    if not match:
        return None
    kind = CME if match.group(1).upper() == "CME" else CMS
    return Final(kind, *_code_and_text(kind, match.group(2).strip()))


def _code_and_text(kind: str, arg: str) -> tuple[int | None, str]:
    if arg.isdigit():
        return int(arg), ""
    lookup = cme_code_for_text if kind == CME else cms_code_for_text
    return lookup(arg), arg.strip('"')


# ---- reply parsers ---------------------------------------------------------------------------------------------

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
    """'+CMTI: <mem>,<index>' (TS 27.005 3.4.1) -> (mem, index)."""
    fields = split_fields(_body(line, "+CMTI"))
    if len(fields) < 2:
        raise ReplyParseError(f"+CMTI needs <mem>,<index>: {line!r}")
    return fields[0].value, _int(fields[1], "+CMTI <index>")


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


def is_hex_line(line: str) -> bool:
    """A PDU line: hex digits only (a trailing Ctrl-Z of an echoed payload is allowed)."""
    text = line.rstrip("\x1a").strip()
    return bool(text) and all(ch in "0123456789abcdefABCDEF" for ch in text)
