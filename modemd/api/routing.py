"""Routes in the HTTP API: the optional "modem" / "group" of a send request (checked against the modems and groups
this host and, on a fleet, the other hosts report), the route each message gets (domain.routing: the request's,
else the [[routes]] rules'), and why a queued message with a route is waiting (GET /v1/messages/{id}).

A name no modem reports is refused (422) rather than queued: a typo would otherwise wait until the message
expires. A known modem that is unplugged now is accepted: the message waits for it, and says so.
"""

from __future__ import annotations

from typing import Any

from .validation import DaemonView, Problem, invalid
from ..domain.routing import GROUP, MODEM, route_key, route_of, split_route
from ..domain.sms import Kind, OutboundSms, Priority, State
from ..services.outbox.health import held_off, sends_now

ROUTE_FIELDS = {MODEM, GROUP}
# The fields as openapi.py states them in NewMessage and NewOtp (docs/routing.md).
ROUTE_SCHEMA = {
    MODEM: {"type": ["string", "null"],
            "description": "only this modem sends it (it waits while that modem cannot); not with group"},
    GROUP: {"type": ["string", "null"],
            "description": "any modem of this group sends it; not with modem. Neither: the [[routes]] rules"}}
READY = "ready"
# modem.state.REGISTRATION_TEXT's words for no network service (TS 27.007 7.2 <stat> 0, 2, 3).
NO_SERVICE = {"not registered", "searching", "denied"}


def requested_route(daemon: DaemonView, body: dict) -> str | None:
    """The route the body asks for ("modem:NAME" / "group:NAME"), or None when it names neither."""
    given = [field for field in (MODEM, GROUP) if body.get(field) is not None]
    if len(given) == 2:
        raise invalid(GROUP, "give modem or group, not both: a message goes to one modem, or to any of a group")
    if not given:
        return None
    return route_key(given[0], known_name(daemon, given[0], body[given[0]]))


def known_name(daemon: DaemonView, field: str, value: Any) -> str:
    """`value` if a modem (field "modem") or a group (field "group") of that name is known here or on a fleet's
    other hosts; a 422 naming the field and listing the known names otherwise."""
    if not isinstance(value, str) or not value:
        raise invalid(field, f"the name of a {field}, a string")
    names = known_names(daemon)[field]
    if value not in names:
        listed = ", ".join(sorted(names)) if names else "(none)"
        raise Problem(422, "Invalid field", f"{field}: unknown {field} {value!r}; known: {listed}", field=field,
                      known=sorted(names))
    return value


def known_names(daemon: DaemonView) -> dict[str, set[str]]:
    """{"modem": names, "group": groups} of every modem the daemon reports (its own, and other hosts')."""
    states = daemon.modem_states()
    return {MODEM: {s["name"] for s in states}, GROUP: {g for s in states for g in s.get("groups") or ()}}


def message_route(daemon: DaemonView, requested: str | None, to: str, *, app: str, kind: Kind,
                  priority: Priority) -> str | None:
    """The route a message to `to` is stored with: the request's, else the first [[routes]] rule's, else None."""
    return route_of(requested, daemon.routes, to, app=app, kind=kind, priority=priority)


def waiting_reason(sms: OutboundSms, states: list[dict]) -> str | None:
    """Why a queued message with a route is not going out: none of the modems it may go through can send now.
    None when one can, or the message is not queued, or goes through any modem."""
    if sms.state is not State.QUEUED:
        return None
    return route_blocked(sms.route, states)


def unavailable_unless_routable(daemon: DaemonView, body: dict, routes: set[str | None]) -> None:
    """queue_if_unavailable=false (validation.unavailable_unless_queued) for routed messages: 503, nothing queued,
    when a message would wait because no modem of its route can send now."""
    if body.get("queue_if_unavailable", True) is not False:
        return
    states = daemon.modem_states()
    for route in routes:
        reason = route_blocked(route, states)
        if reason is not None:
            raise Problem(503, "No modem of the route can send now", f"nothing was queued: a message would wait "
                          f"{reason}", retry_after=30)


def route_blocked(route: str | None, states: list[dict]) -> str | None:
    """What keeps a message with `route` from going out now (None: a modem of it is ready, or it has no route)."""
    if route is None:
        return None
    kind, name = split_route(route)
    serving = [s for s in states if (s["name"] == name if kind == MODEM else name in (s.get("groups") or ()))]
    if any(sends_now(s) for s in serving):
        return None
    if kind == MODEM:
        if not serving:
            return f"for modem {name}, which no host reports"
        return f"for modem {name}, which is {_condition(serving[0])}"
    if not serving:
        return f"for group {name}, which no modem reports being in"
    return f"for group {name}, none of whose modems can send: " + ", ".join(
        f"{s['name']} {_condition(s)}" for s in serving)


def _condition(state: dict) -> str:
    """A modem's state in words: "offline (not registered)", "paused", "host lost on host b" on a fleet. The
    registration is told only when it is why (searching, denied, not registered): a modem unplugged keeps the
    last one it had ("home"), which would read as if it could send."""
    words = str(state.get("state", "unknown")).replace("_", " ")
    if state.get("state") == READY and held_off(state):
        words = f"ready but holding off ({held_off(state)})"
    registration = state.get("registration_text")
    if registration in NO_SERVICE and registration not in words:
        words += f" ({registration})"
    host = state.get("host")
    return f"{words} on host {host}" if host and state.get("host_renewed_at") is not None else words
