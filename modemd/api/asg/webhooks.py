"""GET, POST /asg/webhook(s) and DELETE /asg/webhook(s)/{id}: the webhooks an app registers as the app's clients
register them ({id?, url, event}), kept in the store per app and delivered by modemd's webhook service like the
configured ones (services/webhooks/: registered.py, asg_payload.py), signed with the app's asg_signing_key.

An app sees, replaces and removes its own webhooks only; another app's id is simply not there. As in the app, a
POST with an id the app has registered replaces that webhook, and a DELETE of an unknown id answers 204.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from aiohttp import web

from ...config.values import is_loopback
from ...config.webhooks import url_problem
from ...domain.sms import new_batch_id
from ...services.webhooks.asg_payload import ASG_EVENTS
from ...store import RegisteredHook
from ..auth import App
from ..validation import APP, daemon_of, invalid, json_object, only_fields
from .errors import AsgError
from .shapes import message_id

MOST = 32        # webhooks per app: each is a worker delivering its own events, and none is a mailing list
# The app's other events, each refused by name: modemd has nothing that would raise them.
NOT_RAISED = ("sms:data-received", "mms:received", "mms:downloaded", "system:ping", "app:started", "sms:cancelled")


async def list_webhooks(request: web.Request) -> web.Response:
    hooks = await daemon_of(request).webhook_store.registered(request[APP].name)
    return web.json_response([_view(hook) for hook in hooks])


async def register_webhook(request: web.Request) -> web.Response:
    body = {k: v for k, v in (await json_object(request)).items() if v is not None}
    only_fields(body, {"id", "url", "event", "deviceId", "source"})     # deviceId, source: the app's, ignored
    app = request[APP]
    hook = RegisteredHook(app=app.name, id=message_id(body["id"], "id") if "id" in body else new_batch_id()[4:],
                          url=_url(body.get("url")), event=_event(app, body.get("event")), created_at=time.time())
    if not app.signs_asg_webhooks:
        raise invalid("event", f"app {app.name!r} has no asg_signing_key in its [[apps]] table: modemd signs every "
                               "webhook it sends (X-Signature) and has no key to sign this one's with")
    daemon = daemon_of(request)
    if not await daemon.webhook_store.register(hook, most=MOST):
        raise invalid("id", f"app {app.name!r} has {MOST} webhooks, the most it may have; remove one first")
    daemon.webhooks_changed()
    return web.json_response(_view(hook), status=201)


async def delete_webhook(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    if await daemon.webhook_store.unregister(request[APP].name, request.match_info["id"]):
        daemon.webhooks_changed()
    return web.Response(status=204)


def _url(value) -> str:
    """A URL as the app takes one (https, or http to this machine), and as modemd's config does (no user:password);
    the URL itself is never echoed (its query may hold the receiver's own credentials)."""
    if not isinstance(value, str):
        raise invalid("url", "required, the receiver's https:// URL")
    problem = url_problem(value)
    if problem:
        raise invalid("url", problem)
    parts = urlsplit(value)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise invalid("url", "must start with https:// (or http:// to this machine): events carry phone numbers "
                             "and texts")
    return value


def _event(app: App, value) -> str:
    if value in NOT_RAISED:
        raise invalid("event", f"{value} is not raised by modemd; one of {', '.join(ASG_EVENTS)}")
    if value not in ASG_EVENTS:
        raise invalid("event", f"one of {', '.join(ASG_EVENTS)}")
    needed = "inbox" if value == "sms:received" else "send"      # received SMS are no app's: the inbox scope's
    if not app.may(needed):
        raise AsgError(403, f"Insufficient permissions: {value} needs the scope {needed}, which app {app.name!r} "
                            "does not have")
    return value


def _view(hook: RegisteredHook) -> dict:
    return {"id": hook.id, "url": hook.url, "event": hook.event, "source": "Local"}
