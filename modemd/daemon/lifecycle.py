"""Composition root: builds the parts from a Config, starts them in order, reloads on SIGHUP, stops on SIGTERM.

Start-up order: state directory (locked: one daemon per directory) -> store (+ crash recovery) -> simulated modem
(if asked) -> modem supervisors and outbox workers -> HTTP listener and admin socket -> READY=1. Nothing waits for a
modem: one still searching for the network must not hold up the API (it accepts and queues while modems come and
go) nor systemd's start job. Signal handlers only set flags (uvicorn's lesson); reload and shutdown run in the main
task.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Callable

from aiohttp import web

from ..api.app import build_app
from ..api.auth import TokenSet
from ..api.metrics import Metrics
from ..config.digest import section_digests
from ..config.loader import Config, ConfigError, ModemConfig, reloaded
from ..config.modems import sim_numbers
from ..config.paths import default_state_dir
from ..domain.errors import StorageError
from ..domain.routing import modem_keys
from ..config.tokens import generated_token, tokens_from_environment
from ..modem.modem import ModemState, ModemStatus
from ..modem.pin_memory import PinMemory
from ..modem.driver import DriverSupervisor, build_supervisor
from ..modem.discovery import Discovery
from ..modem.supervisor import ModemSupervisor
from ..services.inbox import Inbox
from ..services.otp import OtpService, load_secret
from ..services.outbox import Outbox
from ..services.outbox.health import sends_now
from ..services.webhooks import WebhookDispatcher
from ..services.webhooks.registered import registered_hooks
from ..store import InboxMessage
from .backend import build_backend
from .housekeeping import prune_forever, start_simulated_modem
from .listeners import admin_socket_path, start_listeners
from .notify import Notifier
from .state_lock import StateLock

log = logging.getLogger(__name__)

# How often the STATUS= line for systemd is refreshed (only sent when it changed).
STATUS_INTERVAL = 5.0


class Daemon:
    def __init__(self, config: Config, *, reload_config: Callable[[], Config] | None = None):
        self.config = config
        self.state_dir = config.server.state_dir or default_state_dir()
        self._reload_config = reload_config
        self.supervisors: list[DriverSupervisor] = []
        self._groups: dict[str, tuple[str, ...]] = {}     # each modem's groups, for the API and the other hosts
        self.routes = config.routes                       # [[routes]]: restart-only, so fixed here
        self.sim_numbers: dict[int, str] = {}             # android-sms-gateway's simNumber -> modem (start())
        self.simulator = None
        self._sim_control = None
        self.backend = build_backend(config.database, self.state_dir)
        self.store = self.backend.store
        self.retention = self.backend.retention
        self.fleet = self.backend.fleet          # None: SQLite, this host alone
        self.node = config.database.node
        self.metrics = Metrics()
        self.outbox = Outbox(self.store, policy=config.queue.retry, keep_sent_text=config.queue.keep_sent_text,
                             retention=config.queue.retention, on_change=self._on_message_change)
        # Always running, even with no webhooks configured: its position in the event log must keep up, or a
        # webhook added later would get everything since.
        self.webhooks = WebhookDispatcher(self.backend.webhooks, list(config.webhooks),
                                          registered=self._registered_webhooks)
        self.webhook_store = self.backend.webhooks
        self.inbox_store = self.backend.inbox
        self.inbox = Inbox(self.inbox_store, on_received=self._on_received, on_report=self._on_report)
        self.tokens = TokenSet([])
        self.otp: OtpService | None = None
        self.default_region = config.server.default_region
        self.limits = config.limits
        self._runner: web.AppRunner | None = None
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._modem_changed = asyncio.Event()
        self._housekeeping: asyncio.Task | None = None
        self.discovery: Discovery | None = None      # finds modems named by identity; hot-plug for all AT modems
        self.admin_socket = admin_socket_path(self.state_dir)

    # ---- start -------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for warning in self.config.warnings:
            log.warning("config: %s", warning)
        self.tokens = self._tokens(self.config)
        await self.store.open()
        otp_secret = load_secret(self.state_dir)
        self.otp = OtpService(self.backend.otp, otp_secret, self.config.otp)
        if self.fleet:       # refused here if the other hosts have another OTP secret; known to them from now on
            await self.fleet.join(otp_secret, [], section_digests(self.config))
        self.outbox.reveal = self.otp.reveal        # OTP texts are sealed at rest; opened only to be sent
        await self.outbox.recover()
        await self.webhooks.start()     # after recovery, so its sending -> failed changes are announced too
        modems = list(self.config.modems)
        if self.config.simulate:
            self.simulator, self._sim_control, simulated = await start_simulated_modem(self.state_dir)
            modems.append(simulated)
        self.sim_numbers = sim_numbers(modems)
        for modem in modems:
            self._start_modem(modem)
        self.discovery = Discovery(self.config.discovery,
                                   [s for s in self.supervisors if isinstance(s, ModemSupervisor)])
        await self.discovery.start()
        if self.fleet:
            # A message accepted on any host wakes this one's workers at once (LISTEN/NOTIFY), and this host's lease
            # is renewed from now on, its modems with it.
            self.store.on_new_message(self.outbox.wake)
            self.fleet.start(self.local_modem_states)
        self.outbox.start()
        self.inbox.start()
        self._housekeeping = asyncio.create_task(prune_forever(self.otp, self.retention, lambda: self.config.retention),
                                                 name="otp-prune")
        await self._start_http()

    def _start_modem(self, m: ModemConfig) -> None:
        sup = build_supervisor(m, pin_memory=PinMemory.in_dir(self.state_dir), state_dir=self.state_dir,
                               on_state=lambda state, name=m.name: self._on_modem_state(name, state))
        self.supervisors.append(sup)
        self._groups[m.name] = m.groups
        self.outbox.add_modem(sup.modem, m.pacing, m.sim, routes=modem_keys(m.name, m.groups),
                              signal=lambda: _signal(sup.modem.status))
        self.inbox.attach(sup.modem)
        sup.start()

    def _tokens(self, config: Config) -> TokenSet:
        tokens = [*config.auth.tokens, *tokens_from_environment()]
        if not tokens and not config.apps:
            token, path, made = generated_token(self.state_dir)
            tokens = [token]
            log.warning("no API token configured (config auth.tokens, $MODEMD_TOKEN or a systemd credential); "
                        "%s %s", "generated one and saved it in" if made else "using the one saved in", path)
        return TokenSet(tokens, config.apps)

    async def _start_http(self) -> None:
        self._runner = await start_listeners(build_app(self), self.config.server, self.admin_socket)

    # ---- events from the modems --------------------------------------------------------------------------------
    def _on_modem_state(self, name: str, state: ModemState) -> None:
        self._modem_changed.set()      # STATUS= says "1 ready" as soon as it is, not at the next interval
        if state is ModemState.READY:
            self.outbox.wake()         # messages that waited for this modem go now, not at the next poll
            self.inbox.modem_up(name)  # and whatever arrived while it was away is read

    def _on_message_change(self, sms, event: str):
        self.metrics.message_changed(sms, event)
        self.webhooks.wake()
        if event == "sent":         # a delivery report that came first settles it now (domain/held_reports.py)
            return self.inbox.message_sent(sms)
        return None

    def _on_received(self, message: InboxMessage) -> None:
        self.metrics.message_received()
        self.webhooks.wake()

    def _on_report(self, message_id: str, state: str) -> None:
        self.metrics.report_applied(state)
        self.webhooks.wake()

    async def _registered_webhooks(self) -> list:
        """The webhooks apps registered through /asg, with the keys of the config in force."""
        return registered_hooks(await self.webhook_store.registered(), self.config.apps)

    def webhooks_changed(self) -> None:
        """An app registered or removed a webhook: the dispatcher reads them again now, not at its next poll."""
        self.webhooks.wake()

    def message_accepted(self, kind: str) -> None:
        self.metrics.message_accepted(kind)
        self.outbox.wake()

    # ---- views for the API -------------------------------------------------------------------------------------
    def local_modem_states(self) -> list[dict]:
        renewed = self.fleet.renewed_at if self.fleet else None
        return [{"name": s.name, "port": s.port, **s.modem.status.as_dict(), "host": self.node,
                 "host_renewed_at": renewed, "groups": list(self._groups.get(s.name, ())),
                 "health": self.outbox.health(s.name)} for s in self.supervisors]

    async def port_findings(self) -> list[dict]:
        """GET /v1/admin/ports: a discovery pass over the [discovery] paths, what it found (modem/discovery.py)."""
        return [f.as_dict() for f in await self.discovery.scan()] if self.discovery else []

    def modem_states(self) -> list[dict]:
        """This host's modems, then (on a fleet) the other hosts' as they last reported them."""
        return self.local_modem_states() + (self.fleet.other_modems() if self.fleet else [])

    def ready(self) -> bool:
        """A message accepted now can be sent: by a modem of this host, or on a fleet by one of a live host's (if
        this host reaches the database at all: it could accept nothing otherwise). A modem at its budget or in
        quarantine cannot send now, whatever its state says (services/outbox/health.sends_now)."""
        if self.fleet and not self.fleet.reachable:
            return False
        return any(sends_now(s) for s in self.local_modem_states()) or \
            bool(self.fleet and self.fleet.others_can_send())

    # ---- reload and stop ---------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    async def serve(self, notifier: Notifier) -> None:
        """Until SIGTERM/SIGINT: apply reloads as they are asked for, and keep systemd's STATUS= line current."""
        last_status = ""
        while not self._stop.is_set():
            waits = [asyncio.ensure_future(e.wait()) for e in (self._stop, self._reload, self._modem_changed)]
            await asyncio.wait(waits, timeout=STATUS_INTERVAL, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
            self._modem_changed.clear()
            if self._reload.is_set() and not self._stop.is_set():
                self._reload.clear()
                notifier.reloading("reloading configuration")
                ok = self.reload()
                notifier.reloaded(await self.status_line() if ok else "reload refused; see the journal")
            status = await self.status_line()
            if status != last_status:
                notifier.status(status)
                last_status = status

    async def status_line(self) -> str:
        """What `systemctl status` shows: "2 modems (1 ready), 14 queued"."""
        try:
            counts = await self.store.counts()
        except StorageError as exc:          # a database server that went away: say so, keep serving
            return f"{len(self.supervisors)} modem(s), store unavailable: {exc}"
        ready = sum(1 for s in self.supervisors if s.modem.can_send)
        fleet = ""
        if self.fleet:
            hosts = sum(1 for node in self.fleet.others if self.fleet.alive(node))
            fleet = f" on {self.node}, {hosts} other host(s) up{'' if self.fleet.reachable else ', database away'}"
        return (f"{len(self.supervisors)} modem(s) ({ready} ready){fleet}, {counts.get('queued', 0)} queued, "
                f"{counts.get('sending', 0)} sending")

    def healthy(self) -> bool:
        """For the watchdog: the process itself works (its workers run). A modem being away is not ill health:
        restarting modemd would not bring it back."""
        return self.outbox.running()

    def reload(self) -> bool:
        """Re-read the config; an invalid one is refused with the reason and the running one stays."""
        if self._reload_config is None:
            log.info("reload asked for, but there is no config file to re-read")
            return False
        try:
            new, kept = reloaded(self.config, self._reload_config())
            tokens = self._tokens(new)
        except (ConfigError, OSError) as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return False
        for key in kept:
            log.warning("config: %s changed; that takes effect after a restart", key)
        self.tokens, self.config, self.default_region = tokens, new, new.server.default_region
        self.limits = new.limits
        self.otp.settings = new.otp
        self.webhooks.update_hooks(list(new.webhooks))
        if self.fleet:
            self.fleet.config = section_digests(new)        # the other hosts see it at the next renewal
        self.outbox.policy, self.outbox.keep_sent_text = new.queue.retry, new.queue.keep_sent_text
        self.outbox.retention = new.queue.retention
        logging.getLogger().setLevel(new.server.log_level.upper() if new.server.log_level != "trace" else 5)
        log.info("configuration reloaded")
        return True

    async def stop(self) -> None:
        # Order: stop accepting, let the AT exchange in flight finish and be recorded, then let go of the modems.
        log.info("stopping")
        if self._runner:
            await self._runner.cleanup()
        if self._housekeeping:
            self._housekeeping.cancel()
        await self.outbox.stop()
        await self.inbox.stop()
        if self.discovery:
            await self.discovery.stop()
        await asyncio.gather(*(sup.stop() for sup in self.supervisors), return_exceptions=True)
        if self._sim_control:
            await self._sim_control.stop()
        if self.simulator:
            await self.simulator.stop()
        await self.webhooks.stop()
        if self.fleet:
            await self.fleet.stop()
        await self.store.close()
        log.info("stopped")


def _signal(status: ModemStatus) -> int:
    """A modem's signal for the order the outbox wakes its workers in: CSQ 0..31, -1 when unknown."""
    return -1 if status.rssi is None else status.rssi


def _tune_gc() -> None:
    """After start-up: move what start-up built (modules, tables, config) out of the collector's sight, and collect
    the young generation less often. A long-lived server makes few cycles; the default thresholds made full
    collections land inside requests (OTP send p99 33 ms -> 26 ms at 2,800/s in bench/bench_otp.py)."""
    gc.freeze()
    gc.set_threshold(20000, 20, 20)


async def run_daemon(config: Config, reload_config: Callable[[], Config] | None = None) -> int:
    notifier = Notifier.from_environment(unset=True)   # children (gammu, helpers) must not ping for us
    daemon = Daemon(config, reload_config=reload_config)
    daemon.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = StateLock(daemon.state_dir)
    lock.acquire()            # raises StateDirBusy before anything of the running daemon's is touched
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
    # Pinging starts before start(): opening the store may take a while (recovery), and the pings come from this
    # loop, so a loop that blocks stops them and systemd restarts us.
    watchdog = asyncio.create_task(notifier.run_watchdog(daemon.healthy), name="watchdog")
    try:
        notifier.status("starting: opening the store, bringing up modems")
        await daemon.start()
        _tune_gc()
        notifier.ready(await daemon.status_line())
        await daemon.serve(notifier)
    finally:
        notifier.stopping("stopping: finishing the AT exchange in flight")
        await daemon.stop()
        watchdog.cancel()
        notifier.close()
        lock.release()
    return 0
