"""One AT command port: serial I/O, one command in flight, URC dispatch, timeouts, resync, connection loss.

The layers under it, each a module: serial (the pyserial-asyncio-fast link: open, write, close, loss), codec
(bytes -> lines and prompts), router (whose line a line is: echo, final result, URC, information line; the channel
tells it through its public methods which command is pending), urc (the URC table and multi-line URC assembly),
redact (what may reach a log). This module runs the command protocol over them: one command in flight, timeouts,
the two-phase CMGS, resync, connection loss.

The channel never reconnects by itself (zigpy's lesson): on EIO / unplug it fails the pending command with
ChannelClosed, calls on_lost and stays closed until someone calls open() again.

Secrets: commands with a PIN (AT+CPIN=, AT+CLCK=, AT+CPWD=, or secret=True) and secret payloads never reach a
log record. While one is on the line, received bytes are traced per line with the secret and hex runs masked,
never raw (a byte-at-a-time echo would otherwise spell the payload out across records).

Public names kept here for importers: Urc, URC_KINDS, urc_name (urc), visible (redact).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Callable

from .codec import AtCodec, PromptReceived
from .redact import Redactor, check_text, shown_command, visible
from .router import LineRouter, PendingCommand, expect_name
from .serial import CLOSE_TIMEOUT, SerialLink
from .urc import CDS, QUOTED, SINGLE, TWO_LINE, URC_KINDS, Urc, urc_name
from ..domain.errors import AtTimeout, ChannelClosed, PromptNotReceived
from ..log.setup import ModemLogAdapter

__all__ = ["AtChannel", "Urc", "URC_KINDS", "urc_name", "visible", "SINGLE", "TWO_LINE", "CDS", "QUOTED",
           "DEFAULT_TIMEOUT", "PROMPT_TIMEOUT", "SUBMIT_TIMEOUT", "PROBE_TIMEOUT", "PROBES", "QUIET", "QUIET_MAX",
           "CLOSE_TIMEOUT", "ESC", "CTRL_Z"]

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

ESC, CTRL_Z = b"\x1b", b"\x1a"   # TS 27.005 3.5.1: ESC (IRA 27) cancels a message, Ctrl-Z (IRA 26) sends it


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
        self._redactor = Redactor()
        self._router = LineRouter(self._redactor, self._emit, self.log)
        self._link = SerialLink(port, on_data=self._on_bytes, on_lost=self._on_connection_lost, log=self.log)
        self._lock = asyncio.Lock()
        self._dirty = False            # a command timed out: its late answer may still come -> resync first
        self._last_rx = 0.0

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._link.is_open

    async def open(self) -> None:
        """Open the port (no-op when open). Raises ChannelClosed if the path cannot be opened."""
        if self.is_open:
            return
        await self._link.open(self.port, baudrate=self.baudrate, rtscts=self.rtscts)
        self._reset_state()
        self.log.debug("opened %s at %d baud%s", self.port, self.baudrate, " with RTS/CTS" if self.rtscts else "")

    def _reset_state(self) -> None:
        self._codec.reset()
        self._dirty = False
        self._router.forget_partial_urc()
        self._redactor.clear()

    async def close(self) -> None:
        """Close the port; a pending command fails with ChannelClosed. on_lost is not called for this."""
        if not self._link.attached:
            return
        self._router.fail(ChannelClosed(f"{self.port} closed"))
        await self._link.close()

    def _on_connection_lost(self, exc: BaseException | None, deliberate: bool) -> None:
        self._codec.reset()
        self._router.forget_partial_urc()
        self._router.fail(ChannelClosed(f"{self.port} lost: {exc}" if exc else f"{self.port} closed"))
        if deliberate:
            return
        self.log.warning("port %s lost: %s", self.port, exc)
        if self.on_lost:
            try:
                self.on_lost(exc)
            except Exception:
                self.log.exception("on_lost handler failed")

    # ---- commands ----------------------------------------------------------------------------------------------
    async def command(self, cmd: str, *, timeout: float = DEFAULT_TIMEOUT, expect: str | None = None,
                      secret: bool = False) -> list[str]:
        """Send cmd + CR and return its information lines (no echo, no final code, no URCs).

        expect: the response prefix ("+CREG:"); by default derived from the command ("AT+CSQ" -> "+CSQ").
        secret: the arguments after '=' never reach a log record or an exception (PIN commands always).
        Raises CommandError / CmeError / CmsError / AtTimeout / ChannelClosed; ValueError for control bytes.
        """
        check_text(cmd, "command")
        async with self._lock:
            await self._prepare(shown_command(cmd, secret))
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
        check_text(cmd, "command")
        check_text(payload, "payload")
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
    def _begin(self, cmd: str, expect: str | None, secret: bool, probe: bool = False) -> PendingCommand:
        shown = shown_command(cmd, secret)
        self._redactor.add_command(cmd, shown)
        future = asyncio.get_running_loop().create_future()
        pending = PendingCommand(cmd, shown, expect_name(expect, cmd), future, probe=probe)
        self._router.expect(pending)   # registered before anything is written
        return pending

    def _end(self, pending: PendingCommand) -> None:
        self._router.done(pending)
        self._codec.expect_prompt = False
        if not self._dirty:
            self._redactor.clear()

    async def _prepare(self, shown: str) -> None:
        """Before a command: the port must be open, and a line left dirty by a timeout is resynced first."""
        if not self.is_open:
            raise ChannelClosed(f"{self.port} is not open", command=shown)
        if self._dirty and not await self._resync_locked():
            raise AtTimeout("modem does not answer (resync after an earlier timeout failed)", command=shown)

    async def _wait(self, pending: PendingCommand, timeout: float) -> list[str]:
        try:
            return await asyncio.wait_for(pending.future, timeout)
        except TimeoutError:
            self._dirty = True   # the answer may still come; resync before the next command
            raise AtTimeout(f"no final result code within {timeout:g} s", command=pending.shown,
                            after_payload=pending.payload_sent) from None
        except asyncio.CancelledError:
            self._dirty = True
            raise

    async def _wait_prompt(self, pending: PendingCommand, timeout: float) -> None:
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
            self._link.write(ESC, visible(ESC))

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
                    self._redactor.clear()
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
        strays = self._router.stray_finals
        await self._drain_quiet()
        # Another final code after our OK means that OK may have been a late answer to an older command.
        return self._router.stray_finals == strays

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
    def _write_command(self, pending: PendingCommand) -> None:
        self._write(pending.command.encode("ascii") + b"\r", pending.shown + "<CR>")

    def _write_payload(self, pending: PendingCommand, payload: str, secret: bool) -> None:
        if secret:
            self._redactor.add_payload(payload)
        pending.payload_sent = True   # from here on, a lost answer means "outcome unknown"
        shown = f"<payload redacted, {len(payload)} bytes>" if secret else payload
        self._write(payload.encode("ascii") + CTRL_Z, shown + "<Ctrl-Z>")

    def _write(self, data: bytes, shown: str) -> None:
        self._link.write(data, shown)

    # ---- reading -----------------------------------------------------------------------------------------------
    def _on_bytes(self, data: bytes) -> None:
        self._last_rx = asyncio.get_running_loop().time()
        # Raw bytes are counted, not shown: a chunk can cut a number or a PDU in two, where no mask would find it.
        # The lines they form are traced, masked, by the router.
        self._link.trace("rx %d bytes", len(data))
        for event in self._codec.feed(data):
            try:
                self._on_prompt() if isinstance(event, PromptReceived) else self._router.line_received(event.text)
            except Exception:
                self.log.exception("failed to handle a line from the modem")

    def _on_prompt(self) -> None:
        self._codec.expect_prompt = False
        self._link.trace("rx prompt")
        self._router.prompt_received()

    # ---- URCs --------------------------------------------------------------------------------------------------
    def _emit(self, urc: Urc) -> None:
        if self.on_urc is None:
            self.log.debug("URC %s with no handler: %r", urc.name, self._redactor.redact(urc.line))
            return
        try:
            self.on_urc(urc)
        except Exception:
            self.log.exception("URC handler failed for %s", urc.name)
