"""Run a SimulatedModem on its own event loop in a thread, for blocking clients (pyserial, gammu, subprocesses).

    with BackgroundSimulator(link="/tmp/modem0") as sim:
        serial.Serial(sim.port, timeout=2) ...
        sim.call(sim.modem.inject_sms, "+4917...", "hi")
"""
from __future__ import annotations

import asyncio
import inspect
import threading

from .control import ControlServer
from .modem import SimulatedModem


class BackgroundSimulator:
    def __init__(self, *, control: str | None = None, **modem_options):
        self._options, self._control_path = modem_options, control
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulated-modem", daemon=True)
        self.modem: SimulatedModem | None = None
        self._control: ControlServer | None = None

    def __enter__(self) -> "BackgroundSimulator":
        self._thread.start()
        self.call(self._start)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.call(self._stop)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    async def _start(self) -> None:
        self.modem = SimulatedModem(**self._options)
        await self.modem.start()
        if self._control_path:
            self._control = ControlServer(self.modem, self._control_path)
            await self._control.start()

    async def _stop(self) -> None:
        if self._control:
            await self._control.stop()
        await self.modem.stop()

    @property
    def port(self) -> str:
        return self.modem.port

    def call(self, fn, *args, timeout: float = 10.0, **kwargs):
        """Run fn on the simulator's loop (awaiting it if it is a coroutine function) and return its result."""
        async def run():
            result = fn(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)
