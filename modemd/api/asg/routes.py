"""The layer's sub-app: its routes (the app serves most paths singular and plural, so does this) and its own
middleware (middleware.py), mounted by api/app.py under /asg; the root's middleware lets its requests through."""

from __future__ import annotations

from aiohttp import web

from ..limits import MAX_BODY
from ..validation import DAEMON_KEY, DaemonView
from .health import health
from .messages import get_message, send_message
from .middleware import asg_errors
from .openapi import SPEC
from .webhooks import delete_webhook, list_webhooks, register_webhook


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)


def build_asg_app(daemon: DaemonView) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[asg_errors])
    app[DAEMON_KEY] = daemon
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    for messages in ("/message", "/messages"):
        app.router.add_post(messages, send_message)
        app.router.add_get(messages + "/{id}", get_message)
    for webhooks in ("/webhook", "/webhooks"):
        app.router.add_get(webhooks, list_webhooks)
        app.router.add_post(webhooks, register_webhook)
        app.router.add_delete(webhooks + "/{id}", delete_webhook)
    return app
