"""Composition root: builds the parts, starts them in order, and shuts them down on a signal.

Start-up order: state directory -> simulated modem (if asked) -> modem supervisors -> HTTP listener.
A signal handler only sets a flag (uvicorn's lesson); the shutdown runs in the main task.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from . import http_api
from .auth import TokenSet, generated_token, tokens_from_environment
from .otp import OtpService, OtpSettings, load_secret
from .outbox import Outbox, Pacing, RetryPolicy
from .store import Store
from .store_otp import OtpStore
from .metrics import Metrics
from .modem import ModemState
from .supervisor import ModemSupervisor

log = logging.getLogger(__name__)

# How long start-up waits for the modems' first bring-up before it reports itself started anyway; a modem that is
# slow or absent must not keep the API from listening (it accepts and queues while modems come and go).
BRING_UP_WAIT = 30.0


@dataclass(frozen=True)
class ModemSettings:
    name: str
    port: str
    baudrate: int = 115200
    rtscts: bool = False
    pin: str | None = None
    smsc: str | None = None
    registration_timeout: float = 60.0
    per_minute: float = 0.0           # pacing; 0 = as fast as the modem goes


@dataclass(frozen=True)
class DaemonSettings:
    state_dir: Path
    modems: list[ModemSettings] = field(default_factory=list)
    listen_host: str = "127.0.0.1"
    listen_port: int = 8765
    simulate: bool = False
    default_region: str | None = None
    retry: RetryPolicy = RetryPolicy()
    keep_sent_text: bool = True
    otp: OtpSettings = OtpSettings()


def default_state_dir() -> Path:
    """$STATE_DIRECTORY under systemd (StateDirectory=), else the XDG state directory of the user."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "modemd"


class Daemon:
    def __init__(self, settings: DaemonSettings):
        self.settings = settings
        self.supervisors: list[ModemSupervisor] = []
        self.simulator = None
        self.store = Store(settings.state_dir / "modemd.db")
        self.metrics = Metrics()
        self.outbox = Outbox(self.store, policy=settings.retry, keep_sent_text=settings.keep_sent_text,
                             on_change=self.metrics.message_changed)
        self.tokens = TokenSet([])
        self.otp: OtpService | None = None
        self.default_region = settings.default_region
        self._runner: web.AppRunner | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._load_tokens()
        await self.store.open()
        self.otp = OtpService(OtpStore(self.store), load_secret(self.settings.state_dir), self.settings.otp)
        await self.outbox.recover()
        modems = list(self.settings.modems)
        if self.settings.simulate:
            modems.append(await self._start_simulator())
        for m in modems:
            sup = ModemSupervisor(m.name, m.port, baudrate=m.baudrate, rtscts=m.rtscts, pin=m.pin, smsc=m.smsc,
                                  registration_timeout=m.registration_timeout, on_event=self._on_modem_event,
                                  on_state=self._on_modem_state)
            sup.start()
            self.supervisors.append(sup)
            self.outbox.add_modem(sup.modem, Pacing(m.per_minute))
        self.outbox.start()
        await self._wait_first_bring_up()
        await self._start_http()

    def _load_tokens(self) -> None:
        tokens = tokens_from_environment()
        if not tokens:
            token, path = generated_token(self.settings.state_dir)
            tokens = [token]
            log.warning("no API token configured ($MODEMD_TOKEN or a systemd credential); using the one saved in "
                        "%s", path)
        self.tokens = TokenSet(tokens)

    def _on_modem_state(self, state: ModemState) -> None:
        if state is ModemState.READY:
            self.outbox.wake()   # messages that waited for this modem go now, not at the next poll

    def message_accepted(self, kind: str) -> None:
        self.metrics.message_accepted(kind)
        self.outbox.wake()

    async def _start_simulator(self) -> ModemSettings:
        from .simulator import SimulatedModem   # only the demo and tests need it
        state = self.settings.state_dir
        self.simulator = SimulatedModem(link=str(state / "sim-modem0"), handset_path=str(state / "handset.jsonl"))
        await self.simulator.start()
        log.info("simulated modem on %s; SMS it receives are recorded in %s", self.simulator.port,
                 state / "handset.jsonl")
        return ModemSettings(name="sim0", port=self.simulator.port, registration_timeout=10.0)

    async def _wait_first_bring_up(self) -> None:
        waits = [sup.brought_up.wait() for sup in self.supervisors]
        if waits:
            try:
                await asyncio.wait_for(asyncio.gather(*waits), BRING_UP_WAIT)
            except asyncio.TimeoutError:
                log.warning("some modems are still coming up after %.0f s; starting anyway", BRING_UP_WAIT)

    async def _start_http(self) -> None:
        app = http_api.build_app(self)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.listen_host, self.settings.listen_port)
        await site.start()
        log.info("HTTP API listening on http://%s:%d", self.settings.listen_host, self.settings.listen_port)

    def _on_modem_event(self, urc) -> None:
        # Inbound SMS and delivery reports are handled by the inbox (a later stage); until then say what came in.
        log.info("modem event %s (not processed yet)", urc.name)

    def request_stop(self) -> None:
        self._stop.set()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        # Order: stop accepting, let the AT exchange in flight finish and be recorded, then let go of the modems.
        log.info("stopping")
        if self._runner:
            await self._runner.cleanup()
        await self.outbox.stop()
        await asyncio.gather(*(sup.stop() for sup in self.supervisors), return_exceptions=True)
        if self.simulator:
            await self.simulator.stop()
        await self.store.close()
        log.info("stopped")

    def modem_states(self) -> list[dict]:
        return [{"name": s.name, "port": s.port, **s.modem.status.as_dict()} for s in self.supervisors]

    def ready(self) -> bool:
        return any(s.modem.can_send for s in self.supervisors)


async def run_daemon(settings: DaemonSettings) -> int:
    daemon = Daemon(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    try:
        await daemon.start()
        await daemon.wait_stopped()
    finally:
        await daemon.stop()
    return 0
