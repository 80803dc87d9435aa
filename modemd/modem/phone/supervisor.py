"""Keeps one phone attached, as supervisor.py keeps an AT modem: attach (adb forward/reverse when configured, the
app's /health, a fresh webhook signing key, the webhooks pointed at this phone's listener), then a health check
every HEALTH_INTERVAL; a phone that stops answering is `offline`, and attaching starts over with the same backoff
as re-opening a lost serial port. Queued messages meanwhile wait, or go to another modem, as with an unplugged
dongle: the outbox only sees can_send turn false.

The app announces itself: `app:started` (the app was restarted, maybe with its settings reset) attaches again at
once; `system:ping` is a sign of life that wakes an offline phone's next attach instead of waiting for the backoff.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from ...config.model import ModemConfig
from ...domain.errors import AtError
from ..adb import AdbBridge
from ..state import ModemState
from .api import PhoneApi
from .listener import WebhookListener
from .phone import Phone
from .translate import PhoneEvent, health_concerns

log = logging.getLogger(__name__)

# A phone's local server is cheap to ask; every 15 s notices a stopped app or a pulled cable within a
# quarter-minute, about as soon as an AT modem's lost port is noticed.
HEALTH_INTERVAL = 15.0
REATTACH_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)     # as supervisor.REOPEN_DELAYS: a replug takes seconds
# The events modemd asks the phone for; each is one webhook registration in the app.
EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed", "system:ping", "app:started")
# How often the app sends system:ping (its settings' ping.interval_seconds).
PING_INTERVAL = 60
# The port the app's local server listens on by default (Settings -> Local server), the far end of `adb forward`.
APP_PORT = 8080


class PhoneSupervisor:
    def __init__(self, settings: ModemConfig, *, health_interval: float = HEALTH_INTERVAL,
                 on_state: Callable[[ModemState], None] | None = None, state_dir: Path | None = None):
        self.name = settings.name
        self.port = settings.address            # what /v1/modems shows as where the modem is
        self.log = logging.LoggerAdapter(log, {"modem": settings.name})
        self.api = PhoneApi(settings.url or "", settings.username or "", settings.password or "")
        self.modem = Phone(settings, self.api, on_state=on_state)
        self.listener = WebhookListener(settings.name, self._on_event, port_file=state_dir and (
            Path(state_dir) / f"phone-{settings.name}.webhook-port"))
        self.adb = AdbBridge(settings.adb_serial, _url_port(settings.url or ""), remote_port=APP_PORT) \
            if settings.adb_serial else None
        self._health_interval = health_interval
        self._wake = asyncio.Event()            # app:started, or a ping while offline: attach now
        self._stopping = asyncio.Event()
        self._failure: str | None = None       # the last attach failure logged, so a long outage logs once
        self._concerns = ""                     # what /health last said was wrong, logged when it changes
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"phone-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.listener.stop()
        await self.api.close()

    async def _run(self) -> None:
        await self.listener.start()
        attempt = 0
        while not self._stopping.is_set():
            if await self._session():
                attempt = 0
                continue
            delay = REATTACH_DELAYS[min(attempt, len(REATTACH_DELAYS) - 1)]
            attempt += 1
            await self._wait(delay)

    async def _session(self) -> bool:
        """Attach, then check health until the phone stops answering or restarts. False if the attach failed."""
        try:
            await self.attach()
        except AtError as exc:
            self._attach_failed(exc)
            return False
        await self._watch()
        return True

    async def attach(self) -> None:
        if self.adb is not None:
            await self.adb.connect(self.listener.port)
        health = await self.api.health()
        key = secrets.token_urlsafe(32)
        # The key is the phone's one webhook signing key: modemd owns the phone's webhooks (docs/phones.md).
        await self.api.patch_settings({"webhooks": {"signing_key": key, "internet_required": False},
                                       "ping": {"interval_seconds": PING_INTERVAL}})
        self.listener.signing_key = key
        for event in EVENTS:
            await self.api.register_webhook(f"modemd-{self.name}-{event.replace(':', '-')}", self.listener.url,
                                            event)
        self._note_identity(health)
        self._note_health(health)
        if self._failure is not None:
            self.log.info("[%s] phone at %s answers again", self.name, self.port)
            self._failure = None
        self.modem.mark_ready("attached")

    def _note_identity(self, health: object) -> None:
        identity = self.modem.status.identity
        identity.manufacturer, identity.model = "capcom6", "SMS Gateway for Android"
        if isinstance(health, dict):
            identity.revision = str(health.get("version", ""))
            self.log.info("[%s] phone attached: app %s, health %s", self.name, identity.revision,
                          health.get("status", "unknown"))

    def _attach_failed(self, exc: AtError) -> None:
        reason = str(exc)
        self.modem.mark_offline(f"cannot attach: {reason}")
        if reason != self._failure:
            self.log.warning("[%s] cannot attach the phone at %s: %s; trying again every %.0f s at most (logged "
                             "again when the reason changes)", self.name, self.port, reason, REATTACH_DELAYS[-1])
            self._failure = reason

    async def _watch(self) -> None:
        while not self._stopping.is_set():
            if await self._wait(self._health_interval):
                return              # the app restarted: attach again
            try:
                health = await self.api.health()
            except AtError as exc:
                self.modem.mark_offline(f"phone stopped answering: {exc}")
                self._failure = str(exc)
                self.log.warning("[%s] phone at %s stopped answering: %s", self.name, self.port, exc)
                return
            self._note_health(health)
            self.modem.mark_ready("answers again")

    def _note_health(self, health: object) -> None:
        concerns = health_concerns(health)
        if concerns != self._concerns:
            if concerns:
                self.log.warning("[%s] phone health: %s", self.name, concerns)
            else:
                self.log.info("[%s] phone health: all checks pass", self.name)
            self._concerns = concerns

    def _on_event(self, event: PhoneEvent) -> None:
        if event.event == "app:started":
            self.log.info("[%s] the app on the phone (re)started; attaching again", self.name)
            self._wake.set()
        elif event.event == "system:ping":
            if self.modem.status.state is ModemState.OFFLINE:
                self._wake.set()
        else:
            self.modem.handle_event(event)

    async def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if woken (the app restarted, a sign of life) or stopping."""
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return self._stopping.is_set()
        self._wake.clear()
        return True


def _url_port(url: str) -> int:
    return urlsplit(url).port or APP_PORT
