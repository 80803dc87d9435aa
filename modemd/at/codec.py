"""AT byte stream -> lines and prompts, and final result codes (pure: no I/O, no asyncio).

AtCodec.feed(bytes) -> [LineReceived | PromptReceived]. Any of CR, LF, CRLF, LFCR ends a line (V.250 says
S3/S4, but firmware mixes them: SIM800 sends a lone CR before some URCs, some Huawei firmware LFCR); blank lines
are dropped, NUL bytes are removed, bytes that are not ASCII become U+FFFD; nothing here ever raises on input.
A line without terminator is cut at MAX_LINE so garbage cannot grow memory without bound.

The "> " prompt of AT+CMGS (TS 27.005 3.5.1) has no trailing CRLF, so it is reported on its own, and only while
`expect_prompt` is set: a '>' at the start of ordinary text must stay text.

What an information line or a URC says is read by replies.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from ..domain.error_codes import cme_code_for_text, cms_code_for_text
from ..domain.errors import AtError, CmeError, CmsError, CommandError

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
