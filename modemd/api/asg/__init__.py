"""SMS Gateway for Android's local API (android-sms-gateway, "ASG") under /asg, so code written for that app, and
its official clients, work against modemd with only the base URL changed (docs/asg.md).

A thin translation onto the same services, limits and store as the native API: routes.py (the sub-app), shapes.py
(its request and answer shapes <-> modemd's), messages.py, webhooks.py, health.py (the handlers), auth.py and
middleware.py (HTTP Basic auth, its error shape), errors.py, openapi.py (its OpenAPI document).
May import what api/ may; nothing imports it but api/app.py.
"""

from .openapi import PREFIX
from .routes import build_asg_app

__all__ = ["PREFIX", "build_asg_app"]
