"""The HTTP API (aiohttp): the app, its routes, and domain error -> RFC 9457 problem. No AT, no SQL here.

Every endpoint but /healthz and /readyz needs `Authorization: Bearer <token>`. Nothing a client sends can produce a
500: bodies are parsed defensively and every field is checked with a message naming it.

This module builds the app, runs the middleware (authentication, unknown query parameters, problems) and serves
the endpoints about the daemon itself (health, readiness, metrics, modems, the OpenAPI document). Behind it:
messages.py (/v1/messages, /v1/batches and /v1/inbox; recipients.py checks a `to` of several numbers), otp.py
(/v1/otp), admin/ (the admin page and its reads), validation.py (Problem, the app keys and the field checks both share). The compatibility layers are
sub-apps with middleware of their own: twilio/ (Twilio Verify v2 under /twilio). Every name other modules import
from `modemd.api.app` is available here.
"""

from __future__ import annotations

import functools
import logging

from aiohttp import web

from .limits import MAX_BODY, MAX_IDEMPOTENCY_KEY, MAX_PAGE, MAX_TTL
from .messages import (cancel_message, create_message, get_batch, get_message, inbox_view, list_inbox,
                       list_messages, message_events, message_view, retry_message)
from .otp import send_otp, unlock_otp, verify_otp
from .twilio import PREFIX as TWILIO_PREFIX, twilio_app
from .validation import (DAEMON_KEY, TOKEN_ID, DaemonView, Problem, daemon_of, identify, invalid, iso,
                         visible_ascii)
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .modem_health import health_view, with_counts
from .openapi import SPEC
from .refusals import as_problem
from .asg import PREFIX as ASG_PREFIX, build_asg_app
from .admin import add_admin_routes
from .admin.routes import PAGE_PATH as ADMIN_PAGE
from .ports import add_port_routes
from .auth import LOCAL_APP, App
from .peer_auth import is_admin, peer_of
from ..domain.redact import mask_id, mask_identity

__all__ = ["build_app", "problems", "Problem", "invalid", "DaemonView", "DAEMON_KEY", "TOKEN_ID", "PUBLIC_PATHS",
           "MAX_BODY", "MAX_TTL", "MAX_IDEMPOTENCY_KEY", "MAX_PAGE", "healthz", "readyz", "openapi", "metrics",
           "list_modems", "modem_view", "mask_id", "create_message", "get_message", "list_messages",
           "cancel_message", "retry_message", "get_batch", "list_inbox", "message_view", "inbox_view", "send_otp", "verify_otp"]

log = logging.getLogger("modemd.api")

# The admin page is public: an empty shell whose script asks for a token and sends it to the admin-scope reads
# (api/admin/page.py says why).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", ADMIN_PAGE})


@web.middleware
async def problems(request: web.Request, handler) -> web.StreamResponse:
    if _in_compat_api(request):
        return await handler(request)       # its own middleware authenticates and answers in its API's shapes
    try:
        if request.path not in PUBLIC_PATHS:
            _authenticate(request)
            _check_query(request)
        return await handler(request)
    except Exception as exc:
        problem = as_problem(exc)
        if problem is None:
            raise
        return problem.response()


def _in_compat_api(request: web.Request) -> bool:
    """A request to a compatibility API (/twilio, /asg: aiohttp sub-apps under the root app): its official clients
    send HTTP Basic auth and parse that API's own error bodies, not problem+json."""
    return len(request.match_info.apps) > 1


@functools.lru_cache(maxsize=64)      # one entry per route: the routes are fixed when the app is built
def _allowed_query(route: web.AbstractRoute) -> frozenset[str]:
    """The query parameters the OpenAPI document lists for this route: the one place they are declared."""
    item = SPEC["paths"].get(route.resource.canonical if route.resource else "", {})
    operation = item.get(route.method.lower(), {})
    return frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")


def _check_query(request: web.Request) -> None:
    if not request.query_string:
        return
    route = request.match_info.route
    if route.resource is None:       # 404/405: nothing to check
        return
    unknown = sorted(set(request.query) - _allowed_query(route))
    if unknown:
        raise invalid(unknown[0] or "(empty name)", "unknown query parameter")


def _authenticate(request: web.Request) -> None:
    daemon = daemon_of(request)
    if _on_admin_socket(request, daemon):
        _authenticate_peer(request)
        return
    scheme, _, token = visible_ascii(request.headers.get("Authorization", "")).partition(" ")
    app = daemon.tokens.check(token.strip()) if scheme.lower() == "bearer" and token else None
    if app is None:
        raise Problem(401, "Unauthorized", "send Authorization: Bearer <token>")
    _admit(request, app)


def _admit(request: web.Request, app: App) -> None:
    """The app may use this operation if it has one of the scopes the OpenAPI document lists for it."""
    route = request.match_info.route
    needed = _scopes_needed(route) if route.resource is not None else ()
    if needed and not any(app.may(scope) for scope in needed):
        raise Problem(403, "Forbidden", f"app {app.name!r} needs the scope {' or '.join(needed)} for this; "
                      f"it has {', '.join(sorted(app.scopes))}")
    identify(request, app)


@functools.lru_cache(maxsize=64)      # one entry per route: the routes are fixed when the app is built
def _scopes_needed(route: web.AbstractRoute) -> tuple[str, ...]:
    """The scopes the OpenAPI document's `security` names for this route (any one will do); () = any app."""
    item = SPEC["paths"].get(route.resource.canonical if route.resource else "", {})
    security = item.get(route.method.lower(), {}).get("security", SPEC["security"])
    return tuple(scope for requirement in security for scopes in requirement.values() for scope in scopes)


def _on_admin_socket(request: web.Request, daemon: DaemonView) -> bool:
    admin = daemon.admin_socket
    transport = request.transport
    return bool(admin and transport and transport.get_extra_info("sockname") == str(admin))


def _authenticate_peer(request: web.Request) -> None:
    """The admin socket: the kernel's word on who connected decides, no token (peer_auth.py)."""
    try:
        peer = peer_of(request.transport.get_extra_info("socket"))
    except (OSError, AttributeError):
        raise Problem(401, "Unauthorized", "the peer's credentials could not be read") from None
    if not is_admin(peer):
        raise Problem(403, "Forbidden", f"uid {peer.uid} is not root, the daemon's user or in its group")
    _admit(request, LOCAL_APP)
    request[TOKEN_ID] = peer.label


def build_app(daemon: DaemonView) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[problems])
    app[DAEMON_KEY] = daemon
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/modems", list_modems)
    app.router.add_post("/v1/messages", create_message)
    app.router.add_get("/v1/messages", list_messages)
    app.router.add_get("/v1/messages/{id}", get_message)
    app.router.add_delete("/v1/messages/{id}", cancel_message)
    app.router.add_post("/v1/messages/{id}/retry", retry_message)
    app.router.add_get("/v1/messages/{id}/events", message_events)
    app.router.add_get("/v1/batches/{id}", get_batch)
    app.router.add_get("/v1/inbox", list_inbox)
    app.router.add_post("/v1/otp", send_otp)
    app.router.add_post("/v1/otp/verify", verify_otp)
    app.router.add_post("/v1/otp/unlock", unlock_otp)
    add_admin_routes(app)          # GET /admin and the /v1/admin/... reads it polls (api/admin/)
    add_port_routes(app)           # GET /v1/admin/ports: what discovery finds (`modemd modems`; api/ports.py)
    app.add_subapp(ASG_PREFIX, build_asg_app(daemon))      # android-sms-gateway's local API (api/asg/)
    app.add_subapp(TWILIO_PREFIX, twilio_app(daemon))      # Twilio Verify v2's SMS part (api/twilio/)
    return app


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """At least one modem can send now: of this host, or on a fleet of hosts of any live host's. Says how many are
    up (modems and hosts), nothing that identifies a device."""
    daemon = daemon_of(request)
    states = daemon.modem_states()
    body = {"ready": daemon.ready(), "modems": len(states),
            "modems_ready": sum(1 for s in states if s["state"] == "ready"),
            "hosts": len({s.get("host") for s in states}),
            "hosts_ready": len({s.get("host") for s in states if s["state"] == "ready"})}
    return web.json_response(body, status=200 if body["ready"] else 503)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)


async def metrics(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    body = daemon.metrics.render(await daemon.store.counts(), await with_counts(daemon.store, daemon.modem_states()))
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def list_modems(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    counts = await daemon.store.counts()
    modems = await with_counts(daemon.store, daemon.modem_states())
    return web.json_response({"data": [{**modem_view(m, counts.get("queued", 0)), "health": health_view(m),
                                        "counts": m["counts"], "queue": m["queue"]} for m in modems]})


def modem_view(state: dict, queued: int) -> dict:
    ident = state["identity"]
    return {"name": state["name"], "port": state["port"], "state": state["state"],
            "signal_dbm": state["signal_dbm"], "rssi": state["rssi"], "operator": state["operator"] or None,
            "registration": state["registration_text"], "manufacturer": ident["manufacturer"] or None,
            "model": ident["model"] or None, "imei": mask_identity("imei", ident["imei"]),
            "iccid": mask_identity("iccid", ident["iccid"]), "imsi": mask_identity("imsi", ident.get("imsi") or ""),
            "queue_depth": queued, "last_error": state["last_error"] or None,
            "host": state.get("host"), "host_renewed_at": iso(state.get("host_renewed_at")),
            "groups": list(state.get("groups") or ())}
