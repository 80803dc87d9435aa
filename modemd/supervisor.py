"""Keeps one modem alive: open the port, bring the modem up, poll its status, and start over when it goes away.

Reconnecting belongs here, not in the channel (zigpy's lesson): the channel reports a lost port, the supervisor
decides when to try again. A replugged USB modem may come back under a new ttyUSB number; users configure a stable
path (udev symlink, /dev/serial/by-id), so re-opening the same path finds it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Callable

from .at_channel import AtChannel, Urc
from .errors import AtError, AtTimeout, ChannelClosed, SimLocked
from .modem import Modem, ModemState

log = logging.getLogger(__name__)

# Waits between attempts to (re)open a port: quick at first (a replug takes 1-3 s to enumerate), then at most
# every 30 s so a modem that is gone for good does not flood the journal.
REOPEN_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# How often signal, registration and operator are polled while the modem is up.
STATUS_INTERVAL = 30.0
# A modem that misses this many status polls in a row (and does not answer AT probes) is re-opened.
MAX_FAILED_POLLS = 3


class ModemSupervisor:
    def __init__(self, name: str, port: str, *, baudrate: int = 115200, rtscts: bool = False,
                 pin: str | None = None, smsc: str | None = None, registration_timeout: float = 60.0,
                 status_interval: float = STATUS_INTERVAL, on_event: Callable[[Urc], None] | None = None,
                 on_state: Callable[[ModemState], None] | None = None):
        self.name = name
        self.port = port
        self._status_interval = status_interval
        self._lost = asyncio.Event()
        self._stopping = asyncio.Event()
        self.channel = AtChannel(port, baudrate=baudrate, rtscts=rtscts, on_urc=self._on_urc,
                                 on_lost=self._on_lost)
        self.modem = Modem(name, self.channel, pin=pin, smsc=smsc, registration_timeout=registration_timeout,
                           on_event=on_event, on_state=on_state)
        self.brought_up = asyncio.Event()   # set after the first bring-up attempt ended, whatever its outcome
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"modem-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.channel.close()

    def _on_urc(self, urc: Urc) -> None:
        self.modem.handle_urc(urc)

    def _on_lost(self, exc: BaseException | None) -> None:
        self.modem.mark_offline(f"port lost: {exc}" if exc else "port closed")
        self._lost.set()

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            if await self._session():
                attempt = 0
            delay = REOPEN_DELAYS[min(attempt, len(REOPEN_DELAYS) - 1)]
            attempt += 1
            await self._sleep(delay)

    async def _session(self) -> bool:
        """One open -> bring-up -> poll cycle. True if the modem was up at some point (resets the backoff)."""
        self._lost.clear()
        if not await self._open():
            self.brought_up.set()     # an absent port is a finished first attempt: start-up must not wait for it
            return False
        try:
            await self.modem.bring_up()
        except SimLocked as exc:
            self.brought_up.set()
            log.error("[%s] SIM locked: %s; waiting for the modem to be replugged or the daemon restarted",
                      self.name, exc)
            await self._wait_lost()   # never retry a PIN by ourselves
            return False
        except AtError as exc:
            self.brought_up.set()
            self._log_bring_up_failure(exc)
            await self.channel.close()
            return False
        self.brought_up.set()
        await self._poll_until_lost()
        await self.channel.close()
        return True

    async def _open(self) -> bool:
        if not os.path.exists(self.port):
            self.modem.mark_offline(f"{self.port} does not exist")
            return False
        try:
            await self.channel.open()
        except ChannelClosed as exc:
            self.modem.mark_offline(f"cannot open {self.port}: {exc}")
            log.warning("[%s] cannot open %s: %s", self.name, self.port, exc)
            return False
        log.info("[%s] opened %s", self.name, self.port)
        return True

    def _log_bring_up_failure(self, exc: AtError) -> None:
        if self.modem.status.state is not ModemState.FAILED:
            self.modem.mark_offline(f"bring-up failed: {exc}")
        log.error("[%s] bring-up failed: %s", self.name, exc)

    async def _poll_until_lost(self) -> None:
        failures = 0
        while not self._lost.is_set() and failures < MAX_FAILED_POLLS:
            if await self._wait_lost(self._status_interval):
                return
            try:
                await self.modem.refresh_status()
                failures = 0
            except ChannelClosed:
                return
            except AtTimeout as exc:
                failures += 1
                log.warning("[%s] status poll timed out (%d/%d): %s", self.name, failures, MAX_FAILED_POLLS, exc)
                if await self.channel.resync():
                    failures = 0
            except AtError as exc:
                log.warning("[%s] status poll failed: %s", self.name, exc)
        if failures >= MAX_FAILED_POLLS:
            self.modem.mark_offline("modem stopped answering; re-opening the port")

    async def _wait_lost(self, timeout: float | None = None) -> bool:
        lost = asyncio.ensure_future(self._lost.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, pending = await asyncio.wait({lost, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return bool(done)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass
