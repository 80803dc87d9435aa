"""Whose line is it? Routes each line received on an AT port. No I/O: it completes the pending command's future
and hands URCs to the callback it was given.

- the echo of the command just sent (ATZ turns echo back on, python-gsmmodem logs show it): dropped;
- a final result code: completes the pending command (or is counted, logged and dropped when nothing is pending);
- a known URC prefix (urc.URC_KINDS): assembled and emitted, unless it is the pending command's own response
  prefix (TS 27.007 lets +CREG/+CPIN/+CFUN be both), for +CREG/+CEREG/+CGREG told apart by their shape;
- anything else: an information line of the pending command, or logged at debug and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Callable

from .codec import Final, parse_final
from .replies import is_hex_line
from .redact import Redactor
from ..domain.errors import ChannelClosed
from .urc import REGISTRATION, Urc, UrcAssembler, is_registration_answer, urc_name
from ..log.setup import TRACE

_EXPECT = re.compile(r"^AT([+^$%#*][A-Z0-9]+)", re.IGNORECASE)


@dataclass(eq=False)
class PendingCommand:
    command: str                     # as written (for echo matching)
    shown: str                       # as logged and put in exceptions (secrets redacted)
    expect: str | None               # response prefix without colon, e.g. "+CREG"
    future: asyncio.Future
    lines: list[str] = field(default_factory=list)
    prompt: asyncio.Future | None = None
    payload_sent: bool = False
    echo_seen: bool = False
    probe: bool = False              # resync probe: everything but OK is discarded


def expect_name(expect: str | None, cmd: str) -> str | None:
    """The response prefix of a command: `expect` normalised ("+CREG:" -> "+CREG"), else from the command."""
    if expect:
        return expect.strip().rstrip(":").upper()
    match = _EXPECT.match(cmd)
    return match.group(1).upper() if match else None


class LineRouter:
    """Routes received lines to the pending command (`expect()` it before writing it) or to `emit` as URCs."""

    def __init__(self, redactor: Redactor, emit: Callable[[Urc], None], log: logging.LoggerAdapter):
        self._pending: PendingCommand | None = None
        self._stray_finals = 0
        self._urcs = UrcAssembler()
        self._redactor, self._emit, self._log = redactor, emit, log

    # ---- what the channel tells it -----------------------------------------------------------------------------
    @property
    def pending(self) -> PendingCommand | None:
        """The command whose answer is being collected, if any."""
        return self._pending

    @property
    def stray_finals(self) -> int:
        """Final result codes seen with no command pending: a resync counts them to tell a late answer to an older
        command from the answer to its own probe."""
        return self._stray_finals

    def expect(self, pending: PendingCommand) -> None:
        """Lines belong to `pending` from now on. Called before its command is written: a fast modem may answer
        before the write returns (zigpy registers its reply future first for the same reason)."""
        self._pending = pending

    def done(self, pending: PendingCommand) -> None:
        """`pending` has ended (answered, failed or abandoned): lines are URCs or strays again."""
        if self._pending is pending:
            self._pending = None

    def fail(self, exc: ChannelClosed) -> None:
        """The port is gone or closed: the pending command fails with `exc`, which says whether its payload had
        gone out (then the outcome is unknown, TS 27.005 3.5.1 gives no way to ask)."""
        pending = self._pending
        if pending is None or pending.future.done():
            return
        exc.command, exc.after_payload = pending.shown, pending.payload_sent
        pending.future.set_exception(exc)

    def forget_partial_urc(self) -> None:
        """Drop a multi-line URC still waiting for its next line: after the port was (re)opened or lost, the line
        that would complete it is never coming."""
        self._urcs.reset()

    def prompt_received(self) -> None:
        """The "> " of AT+CMGS (TS 27.005 3.5.1): the pending command may write its payload now."""
        pending = self._pending
        if pending is not None and pending.prompt is not None and not pending.prompt.done():
            pending.prompt.set_result(None)

    # ---- lines -------------------------------------------------------------------------------------------------
    def line_received(self, line: str) -> None:
        if self._log.isEnabledFor(TRACE):
            self._log.log(TRACE, "rx line %s", self._redactor.redact(line))
        if self._urcs.is_open and self._continue_urc(line):
            return
        pending = self._pending
        if pending is not None and self._is_echo(pending, line):
            return
        final = parse_final(line)
        if final is not None:
            self._final(final)
            return
        name = urc_name(line)
        if name is not None and not _is_response(pending, name, line):
            self._start_urc(name, line)
        elif pending is not None and not pending.probe:
            pending.lines.append(line)
        else:
            self._log.debug("dropping unsolicited line %r", self._redactor.redact(line))

    def _is_echo(self, pending: PendingCommand, line: str) -> bool:
        if pending.payload_sent and is_hex_line(line):
            return True   # the modem echoing our PDU (smstools3 verify_pdu relies on this echo)
        if pending.echo_seen or line.upper() != pending.command.upper():
            return False
        pending.echo_seen = True
        if pending.lines:   # they arrived before the modem even saw our command: not part of its answer
            self._log.debug("dropping %d line(s) that came before the echo", len(pending.lines))
            pending.lines.clear()
        return True

    def _final(self, final: Final) -> None:
        pending = self._pending
        if pending is None or pending.future.done():
            self._stray_finals += 1
            self._log.debug("dropping final result %r with no command pending", final.text or final.kind)
            return
        if pending.probe:
            if final.ok:
                pending.future.set_result([])
            return   # resync discards everything until an OK
        error = final.to_error(pending.shown)
        if error is None:
            pending.future.set_result(pending.lines)
        else:
            pending.future.set_exception(error)

    def _start_urc(self, name: str, line: str) -> None:
        urc = self._urcs.start(name, line)
        if urc is not None:
            self._emit(urc)

    def _continue_urc(self, line: str) -> bool:
        """Feed a line to the open multi-line URC; False if the line is not part of it and needs handling."""
        urc, consumed = self._urcs.feed(line)
        if urc is not None:
            self._emit(urc)
        return consumed


def _is_response(pending: PendingCommand | None, name: str, line: str) -> bool:
    """Is a line with a URC prefix the pending command's answer? (+CREG? vs a +CREG URC: by shape.)"""
    if pending is None or pending.probe or pending.expect != name:
        return False
    if name in REGISTRATION and pending.command.rstrip().endswith("?"):
        return is_registration_answer(line)
    return True
