"""The health fields of a modem in /v1/modems and /metrics: its sending health as its outbox worker keeps it
(services/outbox/health.py: budgets, quarantine, last result, latest errors), with the radio's view beside it (SIM,
registration, signal), and today's counters read from the store (store/modem_usage.py: per modem name, so on a
fleet of hosts another host's modems are counted too). docs/health.md describes every field.
"""

from __future__ import annotations

import time

from ..domain.routing import modem_keys
from ..services.outbox.budget import period_start
from ..services.outbox.health import OUTCOMES
from ..store import Store
from .validation import iso

TIMESTAMP = {"type": "string", "format": "date-time"}
# The OpenAPI schemas of the two objects (openapi.py puts them beside Modem).
HEALTH_SCHEMAS = {
    "ModemHealth": {"type": "object", "properties": {
        "sim": {"type": ["string", "null"]}, "registration": {"type": ["string", "null"]},
        "signal_dbm": {"type": ["integer", "null"]},
        "sending": {"type": ["string", "null"], "description": "ok, or why the modem claims nothing now: "
                    "'budget: day 500/500, until 00:00', 'quarantined until 14:03:07 (5 failures in a row: CMS 38)'"},
        "budget": {"type": "object", "additionalProperties": {"type": ["object", "null"], "properties": {
            "used": {"type": "integer"}, "limit": {"type": "integer"}, "resets_at": TIMESTAMP}},
            "description": "hour, day, month: SMS parts used this period and the cap (null: no cap)"},
        "quarantine": {"type": ["object", "null"], "properties": {
            "until": TIMESTAMP, "failures": {"type": "integer"}, "reason": {"type": "string"}}},
        "failures_in_a_row": {"type": "integer", "minimum": 0},
        "last_result": {"type": ["object", "null"], "properties": {
            "at": TIMESTAMP, "outcome": {"enum": list(OUTCOMES)}, "error": {"type": ["string", "null"]}}},
        "recent_errors": {"type": "array", "items": {"type": "object", "properties": {
            "at": TIMESTAMP, "error": {"type": "string"}, "message": {"type": "string"}}}}}},
    "ModemQueue": {"type": "object", "description": "queued messages this modem may take: those sent to any modem, "
                   "and those routed to it or to one of its groups", "properties": {
                       "depth": {"type": "integer", "minimum": 0},
                       "oldest_age_s": {"type": ["number", "null"], "minimum": 0,
                                        "description": "seconds the oldest of them has waited; null: none"}}},
    "ModemCounts": {"type": "object", "description": "this modem's messages since local midnight", "properties": {
        name: {"type": "integer", "minimum": 0}
        for name in ("sent_today", "failed_today", "possible_duplicate", "unknown")}},
}


async def with_counts(store: Store, states: list[dict], now: float | None = None) -> list[dict]:
    """Each modem's state with "counts": its messages since local midnight (sent_today, failed_today,
    possible_duplicate, unknown), and "queue": what waits that it may take (modem_queue)."""
    now = time.time() if now is None else now
    since = period_start("day", now)
    by_route = await store.queued_by_route()
    out = []
    for state in states:
        counts = await store.modem_counts(state["name"], since)
        out.append({**state, "counts": {"sent_today": counts["sent"], "failed_today": counts["failed"],
                                        "possible_duplicate": counts["possible_duplicate"],
                                        "unknown": counts["unknown"]},
                    "queue": modem_queue(by_route, state["name"], state.get("groups") or (), now)})
    return out


def modem_queue(by_route: dict[str | None, tuple[int, float]], name: str, groups, now: float) -> dict:
    """{depth, oldest_age_s}: the queued messages this modem may take (unrouted ones, and those routed to it or to
    one of its groups: domain/routing.py), and how long the oldest of them has waited (None: none)."""
    keys = modem_keys(name, groups)
    mine = [found for route, found in by_route.items() if route is None or route in keys]
    oldest = min((created for _, created in mine), default=None)
    return {"depth": sum(n for n, _ in mine), "oldest_age_s": None if oldest is None else round(now - oldest, 3)}


def health_view(state: dict) -> dict:
    """The "health" object of /v1/modems (times as ISO 8601); a modem with no worker (another host on an older
    modemd) has only the radio's part."""
    own = state.get("health") or {}
    quarantine = own.get("quarantine")
    last = own.get("last_result")
    return {"sim": state.get("sim") or None, "registration": state.get("registration_text"),
            "signal_dbm": state.get("signal_dbm"), "sending": own.get("sending"),
            "budget": {period: _usage(usage) for period, usage in (own.get("budget") or {}).items()},
            "quarantine": quarantine and {**quarantine, "until": iso(quarantine["until"])},
            "failures_in_a_row": own.get("failures_in_a_row", 0),
            "last_result": last and {**last, "at": iso(last["at"])},
            "recent_errors": [{**e, "at": iso(e["at"])} for e in own.get("recent_errors", [])]}


def _usage(usage: dict | None) -> dict | None:
    return usage and {**usage, "resets_at": iso(usage["resets_at"])}
