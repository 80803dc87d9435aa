"""The JSON reads behind the admin page, admin scope (the OpenAPI document says so; app.py's middleware enforces it).

Numbers are masked here, on the server (domain.redact.mask_number): the page never receives a full number, so a
screenshot, a shoulder or a browser extension gets no more than a log line would.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict

from aiohttp import web

from ..limits import (DEFAULT_ACTIVITY_HOURS, DEFAULT_ADMIN_ROWS, MAX_ACTIVITY_HOURS, MAX_ACTIVITY_SENDS,
                      MAX_PAGE)
from ..messages import message_view
from ..validation import daemon_of, int_param, iso
from ...domain.redact import mask_number

MINUTE = 60.0


async def queue_view(request: web.Request) -> web.Response:
    """Messages per state, the queue's depth and how long its oldest message has waited."""
    store = daemon_of(request).store
    counts = await store.counts()
    oldest = await store.oldest_queued_at()
    age = None if oldest is None else round(max(0.0, time.time() - oldest), 1)
    return web.json_response({"counts": counts, "depth": counts.get("queued", 0), "oldest_queued_at": iso(oldest),
                              "oldest_queued_age_s": age})


async def recent_messages(request: web.Request) -> web.Response:
    """Every app's latest messages, newest first, each as GET /v1/messages/{id} shows it but for its number."""
    limit = _limit(request)
    messages = await daemon_of(request).store.list(limit=limit)
    return web.json_response({"data": [{**message_view(m), "to": mask_number(m.to)} for m in messages]})


async def webhook_deliveries(request: web.Request) -> web.Response:
    """Deliveries pending (waiting or retrying) or failed, newest first; how many are pending in all."""
    webhooks = daemon_of(request).webhook_store
    rows = await webhooks.unsettled(_limit(request))
    return web.json_response({"pending": await webhooks.pending_count(), "data": [_delivery(r) for r in rows]})


def _delivery(row: dict) -> dict:
    return {"seq": row["seq"], "hook": row["hook"], "event": row["event_type"], "state": row["state"],
            "attempts": row["attempts"], "queued_at": iso(row["queued_at"]),
            "next_attempt_at": iso(row["next_attempt_at"]) if row["state"] == "pending" else None,
            "finished_at": iso(row["finished_at"]), "last_error": row["last_error"]}


async def activity(request: web.Request) -> web.Response:
    """Sends per minute and accepted-to-sent latency (median and slowest) per minute over the last `hours`.
    Minutes without a send are left out: the page draws them as zero."""
    hours = int_param(request.query.get("hours", str(DEFAULT_ACTIVITY_HOURS)), "hours", 1, MAX_ACTIVITY_HOURS)
    now = time.time()
    since = now - hours * 3600
    sends = await daemon_of(request).store.sends_since(since, MAX_ACTIVITY_SENDS)
    return web.json_response({"since": iso(since), "until": iso(now), "minutes": _per_minute(sends),
                              "truncated": len(sends) == MAX_ACTIVITY_SENDS})


def _per_minute(sends: list[tuple[float, float]]) -> list[dict]:
    latencies: dict[int, list[float]] = defaultdict(list)
    for at, latency in sends:
        latencies[int(at // MINUTE)].append(latency)
    return [{"at": iso(minute * MINUTE), "sends": len(values), "latency_median_s": round(statistics.median(values), 3),
             "latency_max_s": round(max(values), 3)} for minute, values in sorted(latencies.items())]


def _limit(request: web.Request) -> int:
    return int_param(request.query.get("limit", str(DEFAULT_ADMIN_ROWS)), "limit", 1, MAX_PAGE)
