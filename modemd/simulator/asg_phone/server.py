"""The app's local server (WebService + MessagesRoutes + WebhooksRoutes) on aiohttp.

Routes as the app mounts them: /messages and /message, /webhooks and /webhook (both spellings of each), /health
without credentials, everything else behind HTTP Basic (realm "Access to SMS Gateway"). Errors as its StatusPages
and routes answer: 400/409/500 with {"message": "..."}, 404 and 401 with an empty body, 202 for an accepted
message, 201 for a registered webhook, 204 for a deleted one.
"""
from __future__ import annotations

import base64
import binascii
import json

from aiohttp import web

from .request import BadRequest, parse_send
from .settings import parse_settings
from .state import ConflictError

REALM = 'Basic realm="Access to SMS Gateway", charset=UTF-8'
PHONE = web.AppKey("phone", object)
CREDENTIALS = web.AppKey("credentials", tuple)


def build_app(phone, username: str, password: str) -> web.Application:
    app = web.Application(middlewares=[_errors, _basic_auth])
    app[PHONE], app[CREDENTIALS] = phone, (username, password)
    app.router.add_get("/health", _health)
    app.router.add_get("/", _root)
    for base in ("/messages", "/message"):
        app.router.add_post(base, _post_message)
        app.router.add_get(base, _list_messages)
        app.router.add_get(base + "/{id}", _get_message)
    app.router.add_get("/settings", _get_settings)
    app.router.add_patch("/settings", _patch_settings)
    for base in ("/webhooks", "/webhook"):
        app.router.add_get(base, _list_webhooks)
        app.router.add_post(base, _post_webhook)
        app.router.add_delete(base + "/{id}", _delete_webhook)
    return app


def _reply(data, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except (BadRequest, ValueError) as exc:             # IllegalArgumentException / BadRequestException
        return _reply({"message": str(exc)}, 400)


@web.middleware
async def _basic_auth(request: web.Request, handler):
    if request.path == "/health" or _authorized(request):
        return await handler(request)
    return web.Response(status=401, headers={"WWW-Authenticate": REALM})


def _authorized(request: web.Request) -> bool:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return (user, password) == request.app[CREDENTIALS]


async def _body(request: web.Request):
    try:
        return await request.json()
    except ValueError:
        raise BadRequest("Failed to convert request body: not JSON") from None


async def _health(request: web.Request) -> web.Response:
    report = request.app[PHONE].health()
    return _reply(report, 500 if report["status"] == "fail" else 200)


async def _root(request: web.Request) -> web.Response:
    return _reply({"status": "ok", "model": "Simulated Pixel"})


async def _post_message(request: web.Request) -> web.Response:
    phone = request.app[PHONE]
    skip = request.query.get("skipPhoneValidation", "false") == "true"
    body = await _body(request)
    if isinstance(body, dict) and body.get("deviceId") not in (None, phone.device_id):
        return _reply({"message": "Invalid device ID"}, 400)
    try:
        message = phone.submit(parse_send(body, skip))
    except ConflictError as exc:
        return _reply({"message": str(exc)}, 409)
    return _reply(message.view(phone.device_id), 202)


async def _list_messages(request: web.Request) -> web.Response:
    phone = request.app[PHONE]
    state = request.query.get("state") or None
    rows = [m for m in phone.messages.all() if state is None or m.state == state]
    limit, offset = int(request.query.get("limit", 50)), int(request.query.get("offset", 0))
    include = request.query.get("includeContent", "false") == "true"
    return web.json_response([m.view(phone.device_id, include) for m in rows[offset:offset + limit]],
                             headers={"X-Total-Count": str(len(rows))})


async def _get_message(request: web.Request) -> web.Response:
    phone = request.app[PHONE]
    message = phone.messages.get(request.match_info["id"])
    if message is None:
        return web.Response(status=404)
    return _reply(message.view(phone.device_id))


async def _get_settings(request: web.Request) -> web.Response:
    return _reply(request.app[PHONE].settings())


async def _patch_settings(request: web.Request) -> web.Response:
    return _reply(request.app[PHONE].update_settings(parse_settings(await _body(request))))


async def _list_webhooks(request: web.Request) -> web.Response:
    return _reply(request.app[PHONE].webhooks.all())


async def _post_webhook(request: web.Request) -> web.Response:
    phone = request.app[PHONE]
    body = await _body(request)
    if isinstance(body, dict) and body.get("deviceId") not in (None, phone.device_id):
        raise BadRequest("Device ID mismatch")
    return _reply(phone.webhooks.replace(body), 201)


async def _delete_webhook(request: web.Request) -> web.Response:
    request.app[PHONE].webhooks.delete(request.match_info["id"])
    return web.Response(status=204)


class PhoneServer:
    """The listening socket, which goes away while the app is killed (connections are refused) and comes back."""

    def __init__(self, phone, host: str, port: int, username: str, password: str):
        self.host, self.port = host, port
        self._runner = web.AppRunner(build_app(phone, username, password), access_log=None)
        self._site: web.TCPSite | None = None
        phone.on_kill, phone.on_start = self.stop_listening, self.listen

    async def start(self) -> None:
        await self._runner.setup()
        await self.listen()

    async def listen(self) -> None:
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:                   # an ephemeral port: keep it, so a restart comes back on the same one
            self.port = self._runner.addresses[0][1]

    async def stop_listening(self) -> None:
        """The app's process dies: no listener, and its open keep-alive connections are cut too."""
        if self._site:
            await self._site.stop()
            self._site = None
        if self._runner.server:
            for connection in self._runner.server.connections:
                connection.force_close()

    async def stop(self) -> None:
        await self._runner.cleanup()
