"""GET /asg/health: the app's health answer ({status, version, checks}) from modemd's own readiness: "pass" when
every modem can send, "warn" when some can, "fail" (503, as the app's OpenAPI says) when none can or, on a fleet,
the database is away (DaemonView.ready()). Public, as the app's is: a load balancer asks it without a password."""

from __future__ import annotations

from aiohttp import web

from ... import __version__
from ..validation import daemon_of


async def health(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    modems = daemon.modem_states()
    ready = sum(1 for modem in modems if modem["state"] == "ready")
    status = "fail" if not daemon.ready() else "pass" if ready == len(modems) else "warn"
    check = {"status": status, "observedValue": ready, "observedUnit": "modems",
             "description": f"modems that can send now, of {len(modems)}"}
    return web.json_response({"status": status, "version": __version__, "checks": {"modems:ready": check}},
                             status=503 if status == "fail" else 200)
