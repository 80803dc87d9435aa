"""The part of the app's settings its local server lets a client change (PATCH /settings, SettingsRoutes) that the
simulated phone acts on: the webhook signing key and retry count (WebhooksSettings: webhooks.signing_key,
webhooks.retry_count, webhooks.internet_required) and the system:ping interval (ping.interval_seconds). What it
does not act on is refused by name, so a client learns the simulator does not do it rather than believing it did.
"""

from __future__ import annotations

from .request import BadRequest

KNOWN = {"webhooks": {"signing_key", "retry_count", "internet_required"}, "ping": {"interval_seconds"}}


def parse_settings(body: object) -> dict[str, dict]:
    """The sections and values of a PATCH /settings body, checked as the app's SettingsService does (a positive
    retry count and ping interval); BadRequest ("Invalid request: ...", the app's text) otherwise."""
    if not isinstance(body, dict):
        raise BadRequest("Invalid request: a JSON object of settings sections")
    for section, values in body.items():
        if section not in KNOWN or not isinstance(values, dict) or set(values) - KNOWN[section]:
            raise BadRequest(f"Invalid request: {section} is not a setting the simulated phone changes")
    webhooks, ping = body.get("webhooks", {}), body.get("ping", {})
    if "signing_key" in webhooks and not isinstance(webhooks["signing_key"], str):
        raise BadRequest("Invalid request: webhooks.signing_key must be a string")
    for section, name in (("webhooks", "retry_count"), ("ping", "interval_seconds")):
        value = body.get(section, {}).get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise BadRequest(f"Invalid request: {section}.{name} must be at least 1")
    if "internet_required" in webhooks and not isinstance(webhooks["internet_required"], bool):
        raise BadRequest("Invalid request: webhooks.internet_required must be true or false")
    return {"webhooks": dict(webhooks), "ping": dict(ping)}
