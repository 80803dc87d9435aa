"""What of an AT exchange may reach a log record. Pure: no I/O, no asyncio.

* ``visible(data)``: raw bytes for a TRACE log, control characters spelled out.
* ``shown_command(cmd, secret)``: the command as logs and exceptions may show it, PIN arguments replaced.
* ``Redactor``: the secrets currently on the line (PIN arguments, a secret payload); masks them, and any hex run
  while a secret payload is out, in the received lines that are traced. Always, whatever is on the line: phone
  numbers in clear (a +CLIP caller, a text-mode +CMT sender) are masked, and a received PDU line (it encodes the
  sender's number and the text) is shown by its length only.
* ``check_text(text, what)``: commands and payloads are printable ASCII, so they cannot end or cancel a message.
"""

from __future__ import annotations

import re

from ..domain.redact import mask_number

# Commands whose arguments are PINs / passwords (TS 27.007 8.3, 7.4, 7.5).
SECRET_COMMANDS = ("AT+CPIN=", "AT+CLCK=", "AT+CPWD=", "AT^CPIN=")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{8,}")
_NUMBER = re.compile(r"\+?\d{7,}")
_PDU_LINE = re.compile(r"[0-9A-Fa-f]{20,}")
_VISIBLE = {0x0D: "<CR>", 0x0A: "<LF>", 0x1A: "<Ctrl-Z>", 0x1B: "<ESC>", 0x00: "<NUL>"}


def visible(data: bytes) -> str:
    """Raw bytes for a TRACE log: control characters spelled out (<CR><LF>, <Ctrl-Z>, <ESC>, <1F>)."""
    return "".join(_VISIBLE.get(b) or (chr(b) if 32 <= b < 127 else f"<{b:02X}>") for b in data)


def shown_command(cmd: str, secret: bool) -> str:
    """The command as logs and exceptions may show it: PIN-bearing arguments replaced."""
    if secret or cmd.upper().startswith(SECRET_COMMANDS):
        head, sep, args = cmd.partition("=")
        return head + "=<redacted>" if sep and args else cmd
    return cmd


def check_text(text: str, what: str) -> None:
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"{what} must be printable ASCII (no CR, LF, Ctrl-Z or ESC)")


class Redactor:
    """The secrets on the line right now. While any is, received bytes are traced per line, masked, never raw."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._secret_payload = False

    @property
    def active(self) -> bool:
        return bool(self._secrets)

    def add_command(self, cmd: str, shown: str) -> None:
        """A command whose shown form hides its arguments: those arguments are a secret."""
        if shown != cmd:
            self._secrets += (cmd.partition("=")[2],)

    def add_payload(self, payload: str) -> None:
        self._secrets += (payload,)
        self._secret_payload = True

    def clear(self) -> None:
        self._secrets, self._secret_payload = (), False

    def redact(self, line: str) -> str:
        for secret in self._secrets:
            line = line.replace(secret, "<redacted>")
        if self._secret_payload:
            line = _HEX_RUN.sub(lambda m: f"<hex redacted, {len(m.group())} chars>", line)
        if _PDU_LINE.fullmatch(line.strip()):
            return f"<PDU, {len(line.strip()) // 2} octets>"
        return _NUMBER.sub(lambda m: mask_number(m.group()), line)
