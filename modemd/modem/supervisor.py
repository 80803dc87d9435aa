"""Keeps one modem alive: open the port, bring the modem up, poll its status, and start over when it goes away.

Reconnecting belongs here, not in the channel (zigpy's lesson): the channel reports a lost port, the supervisor
decides when to try again. A replugged USB modem may come back under a new ttyUSB number; users configure a stable
path (udev symlink, /dev/serial/by-id), so re-opening the same path finds it again.

A port that cannot be opened is logged at WARNING once, with why (missing, in use, permission denied): at once,
so a typo in the configured path shows in the journal at start-up, not only in `modemd status`, and not again on
every retry, so an unplugged modem does not fill the journal. A changed reason is logged again, and the port coming
back at INFO.

A modem that stops answering (a status poll times out and the resync's "AT" probes get no answer, or the outbox
found the same after a send: Modem.check_answering) is `not_responding`: it sends nothing, /readyz and /v1/modems say
so. The supervisor then probes it every HUNG_PROBE_INTERVAL seconds; the first answer brings it back (ready, or not
registered). Silent for REOPEN_AFTER_SILENCE seconds, the port is closed and opened again and the modem brought up
anew (which often clears a stuck AT parser); until a bring-up gets answers it stays `not_responding`.

A modem named by identity (imei/iccid/imsi in its [[modems]] table) has no port of its own: it waits until
discovery (discovery.py) finds its modem and attach()es it to that port; when the port is lost, or the bring-up finds
another modem there (IdentityMismatch: released, WARNING with both identities masked), it lets go (on_released) and
waits again. A modem named by port keeps reopening its path, backing off; hot-plug events (port_event(), from
discovery's inotify watch) cut a backoff short, so a modem replugged after a long absence is back at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Callable

from ..at.channel import AtChannel, Urc
from ..at.port_check import OTHER, PortUnavailable
from ..config.model import ModemConfig
from ..domain.errors import AtError, AtTimeout, ChannelClosed, SimLocked
from .events import ModemLost
from .modem import Modem, ModemState
from .pin_memory import PinMemory
from .state import IdentityMismatch, identity_text

log = logging.getLogger(__name__)

# Waits between attempts to (re)open a port: quick at first (a replug takes 1-3 s to enumerate), then at most
# every 30 s so a modem that is gone for good does not flood the journal.
REOPEN_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# How often signal, registration and operator are polled while the modem is up.
STATUS_INTERVAL = 30.0
# While a modem does not answer: how often it is probed (a resync, ~3 s when unanswered), and after how long a
# silence its port is re-opened and the modem brought up again.
HUNG_PROBE_INTERVAL = 5.0
REOPEN_AFTER_SILENCE = 60.0


class ModemSupervisor:
    def __init__(self, settings: ModemConfig, *, status_interval: float = STATUS_INTERVAL,
                 on_state: Callable[[ModemState], None] | None = None, pin_memory: PinMemory | None = None):
        self.name = settings.name
        self.configured_port = settings.port
        self.port = settings.port            # where the modem is now ("" while a modem named by identity is unfound)
        self.identity = settings.identity    # {} for a modem named by port alone
        self.on_released: Callable[[str], None] | None = None    # discovery: this realpath is free again
        self._attached = asyncio.Event()     # discovery gave a modem named by identity its port
        self._port_event = asyncio.Event()   # hot-plug: a watched port appeared or went; retry now
        self._mismatch = False               # the last bring-up found another modem on the port
        self.log = logging.LoggerAdapter(log, {"modem": settings.name})   # MODEMD_MODEM in the journal
        self._status_interval = status_interval
        self._lost = asyncio.Event()
        self._stopping = asyncio.Event()
        self._hung = asyncio.Event()       # the modem became not_responding: probe it now, not at the next poll
        self._on_state_outside = on_state
        self.channel = AtChannel(settings.port, baudrate=settings.baud, rtscts=settings.rtscts, on_urc=self._on_urc,
                                 on_lost=self._on_lost)
        self.modem = Modem(settings, self.channel, on_state=self._on_state, pin_memory=pin_memory)
        self.modem.on(ModemLost, self._modem_lost)
        # Why the last open failed (PortUnavailable.reason) and since when; None while the port opens.
        self._open_failure: str | None = None
        self._failing_since = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"modem-{self.name}")

    @property
    def awaiting_port(self) -> bool:
        """A modem named by identity that discovery has not (or no longer) found."""
        return bool(self.identity) and not self._attached.is_set() and not self._stopping.is_set()

    def attach(self, port: str) -> None:
        """Discovery found this modem on `port`: open it there."""
        self.log.info("[%s] found %s on %s", self.name, identity_text(self.identity), port)
        self.port = self.channel.port = port
        self._attached.set()

    def port_event(self) -> None:
        """Hot-plug saw a port appear or go: a reopen waiting in its backoff tries now."""
        self._port_event.set()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.channel.close()

    def _on_urc(self, urc: Urc) -> None:
        self.modem.handle_urc(urc)

    def _on_state(self, state: ModemState) -> None:
        if state is ModemState.NOT_RESPONDING:
            self._hung.set()
        if self._on_state_outside:
            self._on_state_outside(state)

    def _on_lost(self, exc: BaseException | None) -> None:
        self.modem.connection_lost(exc)

    def _modem_lost(self, event: ModemLost) -> None:
        self._lost.set()      # the session ends; _run opens the port again

    async def _run(self) -> None:
        if self.identity:
            await self._run_by_identity()
            return
        attempt = 0
        while not self._stopping.is_set():
            self._port_event.clear()           # events from before this attempt are answered by it
            if await self._session():
                attempt = 0
            delay = REOPEN_DELAYS[min(attempt, len(REOPEN_DELAYS) - 1)]
            attempt += 1
            await self._sleep(delay)

    async def _run_by_identity(self) -> None:
        """Wait for discovery to attach us, then run sessions on that port. A port that stays (a bring-up that
        failed, a modem busy or hung) is retried with the same backoff as a port-named modem's; a port that is gone,
        or holds another modem, is released, and discovery looks again."""
        attempt = 0
        while not self._stopping.is_set():
            if not self._attached.is_set():
                self.modem.mark_offline(f"looking for {identity_text(self.identity)} among the discovery paths")
                await self._wait_attached()
                attempt = 0
                continue
            self._port_event.clear()
            self._mismatch = False
            if await self._session():
                attempt = 0
            if self._mismatch or not os.path.exists(self.port):
                self._release()
                continue
            await self._sleep(REOPEN_DELAYS[min(attempt, len(REOPEN_DELAYS) - 1)])
            attempt += 1

    async def _wait_attached(self) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in (self._attached, self._stopping)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:                           # also when stop() cancels us: no waiter left pending
            for task in waits:
                task.cancel()

    def _release(self) -> None:
        """Let go of the port discovery gave us, and ask it to look again."""
        released, self.port = self.port, ""
        self._attached.clear()
        if self.on_released and released:
            self.on_released(os.path.realpath(released))

    async def _session(self) -> bool:
        """One open -> bring-up -> poll cycle. True if the modem was up at some point (resets the backoff)."""
        self._lost.clear()
        if not await self._open():
            return False
        try:
            await self.modem.bring_up()
        except IdentityMismatch as exc:
            self._mismatch = True
            self.log.warning("[%s] %s is not this modem: expected %s, found %s; releasing the port%s", self.name,
                             self.port, identity_text(exc.expected), identity_text(exc.found),
                             " and looking for it among the discovery paths" if self.identity else "")
            self.modem.mark_offline(f"another modem is on {self.port}: {identity_text(exc.found)}")
            await self.channel.close()
            return False
        except SimLocked as exc:
            self.log.error("[%s] SIM locked: %s; waiting for the modem to be replugged or the daemon restarted",
                           self.name, exc)
            await self._wait_lost()   # never retry a PIN by ourselves
            return False
        except AtError as exc:
            self._log_bring_up_failure(exc)
            await self.channel.close()
            return False
        await self._poll_until_lost()
        await self.channel.close()
        return True

    async def _open(self) -> bool:
        try:
            await self.channel.open()
        except ChannelClosed as exc:
            self._log_open_failure(exc)
            return False
        if self._open_failure is not None:
            self.log.info("[%s] port %s is back after %.0f s; opened it", self.name, self.port,
                          time.monotonic() - self._failing_since)
            self._open_failure = None
        else:
            self.log.info("[%s] opened %s", self.name, self.port)
        return True

    def _log_open_failure(self, exc: ChannelClosed) -> None:
        reason = exc.reason if isinstance(exc, PortUnavailable) else OTHER
        self.modem.mark_offline(f"cannot open {self.port}: {exc}")
        if reason == self._open_failure:
            self.log.debug("[%s] still cannot open %s: %s", self.name, self.port, exc)
            return
        if self._open_failure is None:
            self._failing_since = time.monotonic()
        self._open_failure = reason
        # The exception's text says why ("no such device: ...", "in use by another process: pid 812 ...").
        self.log.warning("[%s] cannot open port %s: %s; retrying every %.0f s, backing off to %.0f s (logged again "
                         "when the reason changes)", self.name, self.port, exc, REOPEN_DELAYS[0], REOPEN_DELAYS[-1])

    def _log_bring_up_failure(self, exc: AtError) -> None:
        if isinstance(exc, AtTimeout):     # the port opened, but the modem did not answer
            self.modem.mark_not_responding(f"bring-up failed: {exc}")
        elif self.modem.status.state is not ModemState.FAILED:
            self.modem.mark_offline(f"bring-up failed: {exc}")
        self.log.error("[%s] bring-up failed: %s", self.name, exc)

    async def _poll_until_lost(self) -> None:
        """Poll the status every status_interval while the modem answers; probe it while it does not. Returns when
        the port is lost, we stop, or a silent modem is to be re-opened."""
        while not self._lost.is_set():
            if self.modem.not_responding:
                if not await self._probe_until_answered():
                    return
                continue
            self._hung.clear()                 # an old one (a previous session's); no await since the check
            if await self._wait_lost(self._status_interval, or_hung=True):
                return
            if self.modem.not_responding:      # found silent by the outbox meanwhile
                continue
            try:
                await self.modem.refresh_status()
            except ChannelClosed:
                return
            except AtTimeout as exc:
                self.log.warning("[%s] status poll timed out: %s", self.name, exc)
                if not await self.channel.resync():
                    self.modem.mark_not_responding(f"does not answer AT commands (status poll: {exc})")
            except AtError as exc:
                self.log.warning("[%s] status poll failed: %s", self.name, exc)

    async def _probe_until_answered(self) -> bool:
        """Probe a not-responding modem until it answers (True: it is back) or it has been silent for
        REOPEN_AFTER_SILENCE seconds, the port is lost or we stop (False: the caller re-opens or ends)."""
        silent_since = time.monotonic()
        probes = 0
        while True:
            self._hung.clear()
            if await self._wait_lost(HUNG_PROBE_INTERVAL):
                return False
            probes += 1
            if await self._answers():
                self.log.info("[%s] modem answers again after %.0f s", self.name, time.monotonic() - silent_since)
                self.modem.mark_answering()
                return True
            if self._lost.is_set():
                return False
            silent = time.monotonic() - silent_since
            # WARNING once (what happens next), INFO for the probes after it: a hang must not flood the journal.
            log.log(logging.WARNING if probes == 1 else logging.INFO,
                    "[%s] modem does not answer (probe %d, %.0f s); not sending through it, probing every %.0f s, "
                    "re-opening the port after %.0f s", self.name, probes, silent, HUNG_PROBE_INTERVAL,
                    REOPEN_AFTER_SILENCE)
            if silent >= REOPEN_AFTER_SILENCE:
                self.modem.mark_not_responding(f"silent for {silent:.0f} s; re-opening the port")
                return False

    async def _answers(self) -> bool:
        """The probe of a not-responding modem: a resync, then a status reading (fresh signal and registration for
        the state it comes back to). A reading that times out again means it is not back yet."""
        if not await self.channel.resync():
            return False
        try:
            await self.modem.refresh_status()
        except AtTimeout as exc:
            self.log.warning("[%s] answered a probe, then not the status poll: %s", self.name, exc)
            return False
        except ChannelClosed:
            return False
        except AtError as exc:      # it answers, even if one reading fails
            self.log.warning("[%s] status poll after a hang failed: %s", self.name, exc)
        return True

    async def _wait_lost(self, timeout: float | None = None, *, or_hung: bool = False) -> bool:
        """Wait up to `timeout` for the port to be lost or the supervisor to stop (True), or, with or_hung, for the
        modem to be found not responding (False: go and probe it)."""
        events = [self._lost, self._stopping] + ([self._hung] if or_hung else [])
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        return self._lost.is_set() or self._stopping.is_set()

    async def _sleep(self, seconds: float) -> None:
        """The backoff between reopen attempts; ends early on stop() or a hot-plug event."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self._stopping, self._port_event)]
        try:        # asyncio.wait, not wait_for: on 3.11 wait_for can swallow the cancel of a stop()
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
