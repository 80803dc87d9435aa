"""One AT command port: serial I/O, one command in flight, URC dispatch, timeouts, resync, connection loss.

Built on pyserial-asyncio-fast (an asyncio transport over pyserial; no thread per port), so any path pyserial can
open works, including a pty or a udev symlink to one. Parsing lives in at_codec; this module only decides whose
line a line is:

- the echo of the command just sent (ATZ turns echo back on, python-gsmmodem logs show it): dropped;
- a final result code: completes the pending command (or is logged and dropped when nothing is pending);
- a known URC prefix (URC_KINDS): handed to on_urc, unless it is the pending command's own response prefix
  (TS 27.007 lets +CREG/+CPIN/+CFUN be both), for +CREG/+CEREG/+CGREG told apart by their shape;
- anything else: an information line of the pending command, or logged at debug and dropped.

The channel never reconnects by itself (zigpy's lesson): on EIO / unplug it fails the pending command with
ChannelClosed, calls on_lost and stays closed until someone calls open() again.

Secrets: commands with a PIN (AT+CPIN=, AT+CLCK=, AT+CPWD=, or secret=True) and secret payloads never reach a
log record. While one is on the line, received bytes are traced per line with the secret and hex runs masked,
never raw (a byte-at-a-time echo would otherwise spell the payload out across records).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Callable

import serial
import serial_asyncio_fast

from .at_codec import (AtCodec, Final, PromptReceived, is_hex_line, is_solicited_registration, parse_cds_length,
                       parse_final, split_fields)
from .errors import AtTimeout, ChannelClosed, PromptNotReceived
from .log import TRACE, ModemLogAdapter

_module_log = logging.getLogger(__name__)

# Most commands answer in well under a second; the default leaves room for slow SIM file reads (+CPIN?, +CIMI
# right after power-up). Network-bound commands (+COPS=?, +CMGS) pass their own timeout.
DEFAULT_TIMEOUT = 10.0
# TS 27.005 3.5.1 bounds neither the prompt nor the submission; Quectel's EC2x manual lists 120 s for AT+CMGS
# ("determined by network"), callers with such modems pass a longer timeout.
PROMPT_TIMEOUT = 10.0
SUBMIT_TIMEOUT = 60.0
# resync(): a live modem answers "AT" in milliseconds, so a second is generous; three probes ride out one lost
# probe. The quiet window lets a late answer to a timed-out command arrive and be discarded before we probe
# (serialport-gsm #35 waits ~100 ms after OK for the same reason); QUIET_MAX bounds it under a URC storm.
PROBE_TIMEOUT = 1.0
PROBES = 3
QUIET = 0.1
QUIET_MAX = 1.0
CLOSE_TIMEOUT = 2.0

ESC, CTRL_Z = b"\x1b", b"\x1a"   # TS 27.005 3.5.1: ESC (IRA 27) cancels a message, Ctrl-Z (IRA 26) sends it

# ---- URC table (explicit data, no dispatch by string building) ---------------------------------------------------
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
_REGISTRATION = ("+CREG", "+CEREG", "+CGREG")
_MAX_URC_LINES = 8   # a +CUSD with an unbalanced quote ends here at the latest
# Commands whose arguments are PINs / passwords (TS 27.007 8.3, 7.4, 7.5).
_SECRET_COMMANDS = ("AT+CPIN=", "AT+CLCK=", "AT+CPWD=", "AT^CPIN=")
_EXPECT = re.compile(r"^AT([+^$%#*][A-Z0-9]+)", re.IGNORECASE)
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{8,}")
_VISIBLE = {0x0D: "<CR>", 0x0A: "<LF>", 0x1A: "<Ctrl-Z>", 0x1B: "<ESC>", 0x00: "<NUL>"}


@dataclass(frozen=True)
class Urc:
    name: str                 # "+CMTI", "RING", "^RSSI", "+QIND", ... (a URC_KINDS key)
    line: str                 # the whole line (lines joined by "\n" for a multi-line +CUSD)
    body: str | None = None   # second line of a two-line URC (+CMT, +CDS): the PDU hex


def urc_name(line: str) -> str | None:
    """The URC_KINDS key this line starts with, or None."""
    name = line.partition(":")[0].strip().upper() if ":" in line else line.strip().upper()
    return name if name in URC_KINDS else None


def visible(data: bytes) -> str:
    """Raw bytes for a TRACE log: control characters spelled out (<CR><LF>, <Ctrl-Z>, <ESC>, <1F>)."""
    return "".join(_VISIBLE.get(b) or (chr(b) if 32 <= b < 127 else f"<{b:02X}>") for b in data)


@dataclass(eq=False)
class _Pending:
    command: str                     # as written (for echo matching)
    shown: str                       # as logged and put in exceptions (secrets redacted)
    expect: str | None               # response prefix without colon, e.g. "+CREG"
    future: asyncio.Future
    lines: list[str] = field(default_factory=list)
    prompt: asyncio.Future | None = None
    payload_sent: bool = False
    echo_seen: bool = False
    probe: bool = False              # resync probe: everything but OK is discarded


class _Protocol(asyncio.Protocol):
    """Forwards transport events to the channel, tagged with the open() generation they belong to."""

    def __init__(self, channel: "AtChannel", generation: int):
        self._channel, self._generation = channel, generation

    def data_received(self, data: bytes) -> None:
        self._channel._on_bytes(self._generation, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._channel._on_connection_lost(self._generation, exc)


class AtChannel:
    def __init__(self, port: str, *, baudrate: int = 115200, rtscts: bool = False,
                 on_urc: Callable[[Urc], None] | None = None,
                 on_lost: Callable[[BaseException | None], None] | None = None,
                 log: logging.LoggerAdapter | None = None,
                 probe_timeout: float = PROBE_TIMEOUT, quiet: float = QUIET, quiet_max: float = QUIET_MAX):
        self.port = port
        self.baudrate = baudrate
        self.rtscts = rtscts
        self.on_urc = on_urc
        self.on_lost = on_lost
        self.log = log or ModemLogAdapter(_module_log, os.path.basename(port))
        self._probe_timeout, self._quiet, self._quiet_max = probe_timeout, quiet, quiet_max
        self._codec = AtCodec()
        self._lock = asyncio.Lock()
        self._transport: asyncio.Transport | None = None
        self._generation = 0
        self._closing = False
        self._closed = asyncio.Event()
        self._pending: _Pending | None = None
        self._urc_open: tuple[str, str, str] | None = None   # (name, text so far, kind) of a multi-line URC
        self._dirty = False            # a command timed out: its late answer may still come -> resync first
        self._secrets: tuple[str, ...] = ()
        self._secret_payload = False
        self._last_rx = 0.0
        self._stray_finals = 0         # final result codes seen with no command pending

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def open(self) -> None:
        """Open the port (no-op when open). Raises ChannelClosed if the path cannot be opened."""
        if self.is_open:
            return
        self._generation += 1
        generation = self._generation
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                asyncio.get_running_loop(), lambda: _Protocol(self, generation), self.port,
                baudrate=self.baudrate, rtscts=self.rtscts)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ChannelClosed(f"cannot open {self.port}: {exc}") from exc
        self._reset_state()
        self._transport = transport
        self.log.debug("opened %s at %d baud%s", self.port, self.baudrate, " with RTS/CTS" if self.rtscts else "")

    def _reset_state(self) -> None:
        self._codec.reset()
        self._closing, self._dirty, self._urc_open = False, False, None
        self._secrets, self._secret_payload = (), False
        self._closed = asyncio.Event()

    async def close(self) -> None:
        """Close the port; a pending command fails with ChannelClosed. on_lost is not called for this."""
        transport = self._transport
        if transport is None:
            return
        self._closing = True
        self._fail_pending(ChannelClosed(f"{self.port} closed"))
        transport.close()
        try:
            await asyncio.wait_for(self._closed.wait(), CLOSE_TIMEOUT)
        except TimeoutError:
            self.log.warning("closing %s took longer than %.0f s", self.port, CLOSE_TIMEOUT)
        self._transport = None

    def _on_connection_lost(self, generation: int, exc: BaseException | None) -> None:
        if generation != self._generation:
            return
        deliberate = self._closing
        self._transport = None
        self._codec.reset()
        self._urc_open = None
        self._fail_pending(ChannelClosed(f"{self.port} lost: {exc}" if exc else f"{self.port} closed"))
        self._closed.set()
        if deliberate:
            return
        self.log.warning("port %s lost: %s", self.port, exc)
        if self.on_lost:
            try:
                self.on_lost(exc)
            except Exception:
                self.log.exception("on_lost handler failed")

    def _fail_pending(self, exc: ChannelClosed) -> None:
        pending = self._pending
        if pending is None or pending.future.done():
            return
        exc.command, exc.after_payload = pending.shown, pending.payload_sent
        pending.future.set_exception(exc)

    # ---- commands ----------------------------------------------------------------------------------------------
    async def command(self, cmd: str, *, timeout: float = DEFAULT_TIMEOUT, expect: str | None = None,
                      secret: bool = False) -> list[str]:
        """Send cmd + CR and return its information lines (no echo, no final code, no URCs).

        expect: the response prefix ("+CREG:"); by default derived from the command ("AT+CSQ" -> "+CSQ").
        secret: the arguments after '=' never reach a log record or an exception (PIN commands always).
        Raises CommandError / CmeError / CmsError / AtTimeout / ChannelClosed; ValueError for control bytes.
        """
        _check_text(cmd, "command")
        async with self._lock:
            await self._prepare(_shown(cmd, secret))
            pending = self._begin(cmd, expect, secret)
            try:
                self._write_command(pending)
                return await self._wait(pending, timeout)
            finally:
                self._end(pending)

    async def command_with_payload(self, cmd: str, payload: str, *, prompt_timeout: float = PROMPT_TIMEOUT,
                                   timeout: float = SUBMIT_TIMEOUT, secret: bool = True) -> list[str]:
        """TS 27.005 3.5.1 in two phases: cmd + CR, wait for "> ", then payload + Ctrl-Z, wait for the result.

        No prompt: ESC is sent and PromptNotReceived raised (nothing submitted). No result after the payload:
        AtTimeout(after_payload=True) (outcome unknown). The payload may hold printable ASCII only, so it can
        never end the message early (0x1A) or cancel it (0x1B) - FIELD-NOTES 2.3.
        """
        _check_text(cmd, "command")
        _check_text(payload, "payload")
        async with self._lock:
            await self._prepare(cmd)
            pending = self._begin(cmd, None, False)
            pending.prompt = asyncio.get_running_loop().create_future()
            try:
                self._codec.expect_prompt = True
                self._write_command(pending)
                await self._wait_prompt(pending, prompt_timeout)
                self._write_payload(pending, payload, secret)
                return await self._wait(pending, timeout)
            finally:
                self._end(pending)

    async def resync(self) -> bool:
        """ESC + CR, then up to PROBES "AT" probes, discarding everything but URCs until an OK. True if answered.

        Returns False (never raises) when the port is closed.
        """
        async with self._lock:
            return await self._resync_locked()

    # ---- command internals -------------------------------------------------------------------------------------
    def _begin(self, cmd: str, expect: str | None, secret: bool, probe: bool = False) -> _Pending:
        shown = _shown(cmd, secret)
        if shown != cmd:
            self._secrets += (cmd.partition("=")[2],)
        future = asyncio.get_running_loop().create_future()
        pending = _Pending(cmd, shown, _expect_name(expect, cmd), future, probe=probe)
        self._pending = pending   # registered before anything is written
        return pending

    def _end(self, pending: _Pending) -> None:
        if self._pending is pending:
            self._pending = None
        self._codec.expect_prompt = False
        if not self._dirty:
            self._secrets, self._secret_payload = (), False

    async def _prepare(self, shown: str) -> None:
        """Before a command: the port must be open, and a line left dirty by a timeout is resynced first."""
        if not self.is_open:
            raise ChannelClosed(f"{self.port} is not open", command=shown)
        if self._dirty and not await self._resync_locked():
            raise AtTimeout("modem does not answer (resync after an earlier timeout failed)", command=shown)

    async def _wait(self, pending: _Pending, timeout: float) -> list[str]:
        try:
            return await asyncio.wait_for(pending.future, timeout)
        except TimeoutError:
            self._dirty = True   # the answer may still come; resync before the next command
            raise AtTimeout(f"no final result code within {timeout:g} s", command=pending.shown,
                            after_payload=pending.payload_sent) from None
        except asyncio.CancelledError:
            self._dirty = True
            raise

    async def _wait_prompt(self, pending: _Pending, timeout: float) -> None:
        assert pending.prompt is not None
        try:
            await asyncio.wait({pending.prompt, pending.future}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._dirty = True
            raise
        if pending.future.done():
            pending.future.result()   # raises the +CMS ERROR / ChannelClosed that came instead of the prompt
            raise PromptNotReceived("final result code instead of the '> ' prompt", command=pending.shown)
        if not pending.prompt.done():
            self._abort_prompt()
            raise PromptNotReceived(f"no '> ' prompt within {timeout:g} s; sent ESC", command=pending.shown)

    def _abort_prompt(self) -> None:
        # A prompt that arrives after we gave up would turn our next command line into message text: ESC cancels
        # the message (TS 27.005 3.5.1), and the resync before the next command drains what follows.
        self._dirty = True
        self._codec.expect_prompt = False
        if self.is_open:
            self._trace("tx %s", visible(ESC))
            self._transport.write(ESC)

    async def _resync_locked(self) -> bool:
        if not self.is_open:
            return False
        self._dirty = True   # keeps secrets masked until the line is known to be clean
        self._codec.expect_prompt = False
        try:
            self._write(ESC + b"\r", visible(ESC + b"\r"))   # gammu's "Escaping SMS mode" for a stuck prompt
            for _ in range(PROBES):
                await self._drain_quiet()
                if await self._probe():
                    self._dirty = False
                    self._secrets, self._secret_payload = (), False
                    return True
        except ChannelClosed:
            return False
        self.log.warning("modem on %s does not answer AT", self.port)
        return False

    async def _probe(self) -> bool:
        pending = self._begin("AT", None, False, probe=True)
        try:
            self._write_command(pending)
            await asyncio.wait_for(pending.future, self._probe_timeout)
        except TimeoutError:
            return False
        finally:
            self._end(pending)
        strays = self._stray_finals
        await self._drain_quiet()
        # Another final code after our OK means that OK may have been a late answer to an older command.
        return self._stray_finals == strays

    async def _drain_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._quiet_max
        while True:
            now = loop.time()
            idle = now - self._last_rx
            if idle >= self._quiet or now >= deadline:
                return
            await asyncio.sleep(min(self._quiet - idle, deadline - now))

    # ---- writing -----------------------------------------------------------------------------------------------
    def _write_command(self, pending: _Pending) -> None:
        self._write(pending.command.encode("ascii") + b"\r", pending.shown + "<CR>")

    def _write_payload(self, pending: _Pending, payload: str, secret: bool) -> None:
        if secret:
            self._secrets += (payload,)
            self._secret_payload = True
        pending.payload_sent = True   # from here on, a lost answer means "outcome unknown"
        shown = f"<payload redacted, {len(payload)} bytes>" if secret else payload
        self._write(payload.encode("ascii") + CTRL_Z, shown + "<Ctrl-Z>")

    def _write(self, data: bytes, shown: str) -> None:
        if not self.is_open:
            raise ChannelClosed(f"{self.port} is not open")
        self._trace("tx %s", shown)
        self._transport.write(data)

    def _trace(self, msg: str, *args) -> None:
        if self.log.isEnabledFor(TRACE):
            self.log.log(TRACE, msg, *args)

    # ---- reading -----------------------------------------------------------------------------------------------
    def _on_bytes(self, generation: int, data: bytes) -> None:
        if generation != self._generation:
            return
        self._last_rx = asyncio.get_running_loop().time()
        if self._secrets:
            self._trace("rx %d bytes (raw bytes withheld while a secret is on the line)", len(data))
        else:
            self._trace("rx %s", visible(data))
        for event in self._codec.feed(data):
            try:
                self._on_prompt() if isinstance(event, PromptReceived) else self._on_line(event.text)
            except Exception:
                self.log.exception("failed to handle a line from the modem")

    def _on_prompt(self) -> None:
        self._codec.expect_prompt = False
        self._trace("rx prompt")
        pending = self._pending
        if pending is not None and pending.prompt is not None and not pending.prompt.done():
            pending.prompt.set_result(None)

    def _on_line(self, line: str) -> None:
        if self._secrets:
            self._trace("rx line %s", self._redact(line))
        if self._urc_open is not None and self._continue_urc(line):
            return
        pending = self._pending
        if pending is not None and self._is_echo(pending, line):
            return
        final = parse_final(line)
        if final is not None:
            self._on_final(final)
            return
        name = urc_name(line)
        if name is not None and not _is_response(pending, name, line):
            self._start_urc(name, line)
        elif pending is not None and not pending.probe:
            pending.lines.append(line)
        else:
            self.log.debug("dropping unsolicited line %r", self._redact(line))

    def _is_echo(self, pending: _Pending, line: str) -> bool:
        if pending.payload_sent and is_hex_line(line):
            return True   # the modem echoing our PDU (smstools3 verify_pdu relies on this echo)
        if pending.echo_seen or line.upper() != pending.command.upper():
            return False
        pending.echo_seen = True
        if pending.lines:   # they arrived before the modem even saw our command: not part of its answer
            self.log.debug("dropping %d line(s) that came before the echo", len(pending.lines))
            pending.lines.clear()
        return True

    def _on_final(self, final: Final) -> None:
        pending = self._pending
        if pending is None or pending.future.done():
            self._stray_finals += 1
            self.log.debug("dropping final result %r with no command pending", final.text or final.kind)
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

    # ---- URCs --------------------------------------------------------------------------------------------------
    def _start_urc(self, name: str, line: str) -> None:
        kind = URC_KINDS[name]
        if kind == TWO_LINE or (kind == CDS and parse_cds_length(line) is not None) \
                or (kind == QUOTED and line.count('"') % 2):
            self._urc_open = (name, line, kind)
        else:
            self._emit(Urc(name, line))

    def _continue_urc(self, line: str) -> bool:
        """Feed a line to the open multi-line URC; False if the line is not part of it and needs handling."""
        name, head, kind = self._urc_open
        if kind == QUOTED:
            text = head + "\n" + line
            if text.count('"') % 2 and text.count("\n") < _MAX_URC_LINES:
                self._urc_open = (name, text, kind)
            else:
                self._urc_open = None
                self._emit(Urc(name, text))
            return True
        self._urc_open = None
        if _pdu_mode_header(name, head) and not is_hex_line(line):
            self._emit(Urc(name, head))   # the PDU never came; let this line be what it is
            return False
        self._emit(Urc(name, head, line))
        return True

    def _emit(self, urc: Urc) -> None:
        if self.on_urc is None:
            self.log.debug("URC %s with no handler: %r", urc.name, urc.line)
            return
        try:
            self.on_urc(urc)
        except Exception:
            self.log.exception("URC handler failed for %s", urc.name)

    def _redact(self, line: str) -> str:
        for secret in self._secrets:
            line = line.replace(secret, "<redacted>")
        if self._secret_payload:
            line = _HEX_RUN.sub(lambda m: f"<hex redacted, {len(m.group())} chars>", line)
        return line


def _check_text(text: str, what: str) -> None:
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"{what} must be printable ASCII (no CR, LF, Ctrl-Z or ESC)")


def _shown(cmd: str, secret: bool) -> str:
    """The command as logs and exceptions may show it: PIN-bearing arguments replaced."""
    if secret or cmd.upper().startswith(_SECRET_COMMANDS):
        head, sep, args = cmd.partition("=")
        return head + "=<redacted>" if sep and args else cmd
    return cmd


def _expect_name(expect: str | None, cmd: str) -> str | None:
    if expect:
        return expect.strip().rstrip(":").upper()
    match = _EXPECT.match(cmd)
    return match.group(1).upper() if match else None


def _is_response(pending: _Pending | None, name: str, line: str) -> bool:
    """Is a line with a URC prefix the pending command's answer? (+CREG? vs a +CREG URC: by shape.)"""
    if pending is None or pending.probe or pending.expect != name:
        return False
    if name in _REGISTRATION and pending.command.rstrip().endswith("?"):
        return is_solicited_registration(split_fields(line.partition(":")[2]))
    return True


def _pdu_mode_header(name: str, head: str) -> bool:
    """'+CMT: [<alpha>],<length>' / '+CDS: <length>' (PDU mode, TS 27.005 3.4.1): the body must be hex."""
    fields = split_fields(head.partition(":")[2])
    return len(fields) <= 2 and fields[-1].value.isdigit()

