"""The loopback HTTP listener a phone's webhooks come to: one per phone, on 127.0.0.1.

Why a listener of its own and not a path of the daemon's API: the app accepts webhook URLs only on https:// or
http://127.0.0.1 (WebHooksService), so over USB the phone reaches modemd through `adb reverse tcp:P tcp:P`, and P
must be a loopback TCP port on this host whatever the API listens on (a unix socket, another address). Apart from
the API it also stays out of the API's bearer-token middleware, and its port says which phone is calling.

Every webhook must carry a valid X-Signature for the key modemd gave that phone at attach (translate.signature_ok);
an event id seen before is answered 200 and dropped, since the app retries a webhook until it gets a 2xx.

The port is kept in a file of the state directory and taken again at the next start when it is free: the app keeps
retrying a webhook it could not deliver (an SMS received while modemd restarted) at the URL it was registered with,
so the same port lets those retries land after the restart.
"""

from __future__ import annotations

import json
import logging
import socket
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from aiohttp import web

from .translate import BadPhoneAnswer, PhoneEvent, parse_event, signature_ok

log = logging.getLogger(__name__)

PATH = "/modemd/phone-webhook"
# Event ids remembered to drop repeats: the app retries a webhook for minutes (retry_count, exponential backoff).
REMEMBERED_EVENTS = 4096
# The app's payloads are small (an SMS, a state change): a larger body is not the app.
MAX_BODY = 256 * 1024


class WebhookListener:
    def __init__(self, name: str, on_event: Callable[[PhoneEvent], None], *, host: str = "127.0.0.1",
                 port: int = 0, port_file: Path | None = None):
        self.name = name
        self.host = host
        self.port = port                 # 0: the remembered one if free, else any free port; known after start()
        self._port_file = port_file
        self.signing_key: str | None = None
        self._on_event = on_event
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._runner: web.AppRunner | None = None
        self.log = logging.LoggerAdapter(log, {"modem": name})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(PATH, self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = self._bind(self.port or self._remembered_port())
        self.port = sock.getsockname()[1]       # the port bound, when 0 (any) was asked for
        self._remember_port()
        await web.SockSite(self._runner, sock).start()

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError:
            if port == 0 or port == self.port:     # asked for this very port: its being taken is an error
                sock.close()
                raise
            self.log.info("[%s] webhook port %d is taken now; listening on another (re-registered at attach)",
                          self.name, port)
            sock.bind((self.host, 0))
        return sock

    def _remembered_port(self) -> int:
        try:
            port = int(self._port_file.read_text().strip()) if self._port_file else 0
        except (OSError, ValueError):
            return 0
        return port if 0 < port < 65536 else 0

    def _remember_port(self) -> None:
        if self._port_file is None:
            return
        try:
            self._port_file.write_text(f"{self.port}\n")
        except OSError as exc:     # only the next start's port is at stake; webhooks are re-registered anyway
            self.log.warning("[%s] cannot remember the webhook port in %s: %s", self.name, self._port_file, exc)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        key = self.signing_key
        if key is None or not signature_ok(key, body, request.headers.get("X-Timestamp"),
                                           request.headers.get("X-Signature")):
            self.log.warning("[%s] webhook refused: missing or wrong signature", self.name)
            return web.Response(status=401, text="bad signature")
        try:
            event = parse_event(json.loads(body))
        except (ValueError, BadPhoneAnswer) as exc:
            self.log.warning("[%s] webhook not understood: %s", self.name, exc)
            return web.Response(status=400, text="not understood")
        if self._first_time(event.id):
            self._on_event(event)
        return web.Response(status=200)

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        while len(self._seen) > REMEMBERED_EVENTS:
            self._seen.popitem(last=False)
        return True
