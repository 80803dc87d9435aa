"""The HTTP API (aiohttp). Routes, validation and domain error -> HTTP problem; no AT, no SQL here.

So far: the unauthenticated probes a service manager or load balancer uses. The message and OTP endpoints, with
bearer tokens, come with the queue.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web


class DaemonView(Protocol):
    def ready(self) -> bool: ...
    def modem_states(self) -> list[dict]: ...


DAEMON_KEY = web.AppKey("daemon", object)


def build_app(daemon: DaemonView) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[DAEMON_KEY] = daemon
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """At least one modem can send now. Says how many are up, nothing that identifies a device."""
    daemon: DaemonView = request.app[DAEMON_KEY]
    states = daemon.modem_states()
    body = {"ready": daemon.ready(), "modems": len(states),
            "modems_ready": sum(1 for s in states if s["state"] == "ready")}
    return web.json_response(body, status=200 if body["ready"] else 503)
