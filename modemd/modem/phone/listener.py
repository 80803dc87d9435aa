"""The loopback HTTP listener a phone's webhooks come to: one per phone, on 127.0.0.1.

Why a listener of its own and not a path of the daemon's API: the app accepts webhook URLs only on https:// or
http://127.0.0.1 (WebHooksService), so over USB the phone reaches modemd through `adb reverse tcp:P tcp:P`, and P
must be a loopback TCP port on this host whatever the API listens on (a unix socket, another address). Apart from
the API it also stays out of the API's bearer-token middleware, and its port says which phone is calling.

Every webhook must carry a valid X-Signature for the key modemd gave that phone at attach (translate.signature_ok);
an event id seen before is answered 200 and dropped, since the app retries a webhook until it gets a 2xx.
"""

from __future__ import annotations

import json
import logging
import socket
from collections import OrderedDict
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
                 port: int = 0):
        self.name = name
        self.host = host
        self.port = port                 # 0: any free port, known after start()
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
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]       # the port bound, when 0 (any) was asked for
        await web.SockSite(self._runner, sock).start()

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
