"""Where the admin page and its reads sit on the app. The page is public (it holds no data; page.py says how the
browser authenticates); the reads need the admin scope, which the OpenAPI document states and app.py enforces."""

from __future__ import annotations

from aiohttp import web

from .page import HEADERS, HTML
from .views import activity, queue_view, recent_messages, webhook_deliveries

PAGE_PATH = "/admin"


async def admin_page(request: web.Request) -> web.Response:
    return web.Response(text=HTML, content_type="text/html", charset="utf-8", headers=HEADERS)


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get(PAGE_PATH, admin_page)
    app.router.add_get("/v1/admin/queue", queue_view)
    app.router.add_get("/v1/admin/messages", recent_messages)
    app.router.add_get("/v1/admin/webhooks", webhook_deliveries)
    app.router.add_get("/v1/admin/activity", activity)
