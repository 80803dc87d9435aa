"""The admin page (GET /admin) and the admin-scope reads it polls (/v1/admin/...).

Modules: page (the HTML, its inline CSS and JS, and the Content-Security-Policy that admits exactly those), views
(the JSON reads: queue, recent messages with numbers masked, webhook deliveries not done, sends and latency per
minute), routes (add_admin_routes: puts both on the app). The page's modem table reads GET /v1/modems, which
app.py serves, and a message's history GET /v1/messages/{id}/events (messages.py).
May import: store (reads), domain, and the api modules beside it (validation, limits).
"""

from .routes import add_admin_routes

__all__ = ["add_admin_routes"]
