"""SimulatedModem: the pure Dialect wired to a PtyPort, a Handset and the asyncio loop.

All input goes through one queue and one worker task, so a command that waits (network_delay) holds back the
next one exactly as a real TA does, and URCs injected meanwhile wait for the final result code.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

from .actions import Out, Replug, ReportLater, Sleep, Submitted, UrcSlot
from .dialect import Dialect
from .faults import Faults
from .handset import Handset
from .profile import DEFAULT_PROFILE, ModemProfile
from .pty_port import PtyPort

log = logging.getLogger(__name__)
BYTE_DELAY = 0.001           # byte_by_byte: 1 ms per byte, like a 9600 baud line (~1 ms/char)
_FLUSH = object()            # queue marker: write pending URCs if the TA is idle


class SimulatedModem:
    def __init__(self, *, link: str | None = None, handset_path: str | None = None,
                 profile: ModemProfile = DEFAULT_PROFILE, faults: Faults | None = None):
        self.profile = profile
        self.faults = faults if faults is not None else Faults()
        self.dialect = Dialect(profile, self.faults)
        self.handset = Handset(handset_path)
        self._port = PtyPort(self._on_data, link=link)
        self._queue: asyncio.Queue = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._busy = False

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._port.open()
        self._worker = asyncio.create_task(self._work(), name="simulated-modem")

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._worker:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        self._port.shutdown()

    @property
    def port(self) -> str:
        """The path a client opens: the stable link if there is one, else /dev/pts/N."""
        return self._port.path

    @property
    def pts(self) -> str | None:
        """The current /dev/pts/N (changes after vanish/reappear); None while vanished."""
        return self._port.name if self._port.is_open else None

    @property
    def present(self) -> bool:
        return self._port.is_open

    async def vanish(self, seconds: float | None = None) -> None:
        """Unplug: clients get EIO/EOF, the link disappears; after `seconds` (if given) the modem comes back."""
        self._port.close(keep_number=True)
        self._drain_queue()
        if seconds is not None:
            self._later(seconds, lambda: asyncio.ensure_future(self.reappear()))

    async def reappear(self) -> None:
        """Replug: a new pty (new pts number), the link re-pointed, the modem freshly powered up."""
        if self._port.is_open:
            return
        self.dialect.power_up()
        self._port.open()

    async def move(self, link: str, seconds: float | None = None) -> None:
        """Replug on another path: unplugged (if present), then back at `link` (a new pts), after `seconds` if
        given. Two modems swap paths by one vanishing, the other moving to its path, the first moving to the
        other's."""
        if self._port.is_open:
            await self.vanish()
        self._port.link = link
        if seconds:
            self._later(seconds, lambda: asyncio.ensure_future(self.reappear()))
        else:
            await self.reappear()

    # ------------------------------------------------------------------------------------------- network side
    def inject_sms(self, sender: str, text: str, *, store: bool = True, order: list[int] | None = None,
                   duplicate: int | None = None) -> list[int]:
        indices = self.dialect.inject_sms(sender, text, store=store, order=order, duplicate=duplicate)
        self._kick()
        return indices

    def inject_status_report(self, message_reference: int, recipient: str, status: int = 0) -> int | None:
        index = self.dialect.inject_status_report(message_reference, recipient, status)
        self._kick()
        return index

    def send_urc(self, line: str) -> None:
        self.dialect.send_urc(line)
        self._kick()

    def set_fault(self, name: str, value) -> None:
        """Change a switch and apply it now (a registration change emits its +CREG URC without a command)."""
        self.faults.set(name, value)
        self.dialect.sync_faults()
        self._kick()

    def state(self) -> dict:
        d = self.dialect
        return {"port": self.port, "pts": self.pts, "present": self.present, "faults": self.faults.as_dict(),
                "sim": d.sim.state, "pin_attempts": d.sim.pin_attempts, "registration": d.registration(),
                "settings": asdict(d.settings), "stored": sorted(d.sim.storage.slots),
                "handset_messages": len(self.handset.messages()), "pending_urcs": len(d.urcs)}

    # ------------------------------------------------------------------------------------------- engine
    def _on_data(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    def _kick(self) -> None:
        self._queue.put_nowait(_FLUSH)

    def _drain_queue(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is _FLUSH:
                    await self._flush_urcs()
                else:
                    await self._run(self.dialect.feed(item))
                    await self._flush_urcs()
            except Exception:                       # a simulator bug must not kill the port: log and go on
                log.exception("simulated modem failed on %r", item)

    async def _flush_urcs(self) -> None:
        if self.dialect.idle and self.dialect.urcs and not self.faults.no_answer and self._port.is_open:
            await self._write(self.dialect.take_urcs())

    async def _run(self, actions: list) -> None:
        replug = None
        for action in actions:
            if isinstance(action, Out):
                await self._write(action.data)
            elif isinstance(action, UrcSlot):
                await self._write(self.dialect.take_inside_urcs())
            elif isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Submitted):
                self.handset.receive(action.part)
            elif isinstance(action, ReportLater):
                self._later(action.seconds, lambda a=action: self.inject_status_report(
                    a.message_reference, a.recipient, 0))
            elif isinstance(action, Replug):
                replug = action
        if replug is not None:                      # after the OK went out, as on the real module
            await asyncio.sleep(0.05)
            await self.vanish(replug.seconds)

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        if not self.faults.byte_by_byte:
            self._port.write(data)
            return
        for i in range(len(data)):
            self._port.write(data[i:i + 1])
            await asyncio.sleep(BYTE_DELAY)

    def _later(self, seconds: float, callback) -> None:
        loop = asyncio.get_running_loop()
        handle = None

        def fire():
            self._timers.discard(handle)
            callback()
        handle = loop.call_later(seconds, fire)
        self._timers.add(handle)
