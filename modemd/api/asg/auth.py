"""Who calls the layer: HTTP Basic auth with an app's name as the user and one of its tokens as the password (how
the app's clients log in: its local server's username and password), or that token as a bearer token (how they
send a JWT). The app needs a scope the layer's OpenAPI document lists for the operation (openapi.py), as the root
API's middleware reads its own document's."""

from __future__ import annotations

import functools

from aiohttp import web

from ..auth import App, basic_credentials
from ..validation import APP, TOKEN_ID, daemon_of
from .errors import AsgError
from .openapi import PREFIX, SPEC

CHALLENGE = {"WWW-Authenticate": 'Basic realm="modemd", charset="UTF-8"'}


def authenticate(request: web.Request) -> None:
    """Sets request[APP] (or raises AsgError 401/403); public operations (security: []) pass as they are."""
    route = request.match_info.route
    needed = _scopes_needed(route) if route.resource is not None else None
    if needed is None:
        return
    app = _caller(request)
    if app is None:
        raise AsgError(401, "Unauthorized: send HTTP Basic auth, the app's name as the user and one of its tokens "
                            "as the password", CHALLENGE)
    if needed and not any(app.may(scope) for scope in needed):
        raise AsgError(403, f"Insufficient permissions: app {app.name!r} needs the scope {' or '.join(needed)}")
    request[APP] = app
    request[TOKEN_ID] = f"app:{app.name}"     # per-client rate limits count per app


def _caller(request: web.Request) -> App | None:
    header = request.headers.get("Authorization", "")
    if not header.isascii():
        return None
    tokens = daemon_of(request).tokens
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return tokens.check(token.strip())
    credentials = basic_credentials(header)
    return tokens.check_basic(*credentials) if credentials else None


@functools.lru_cache(maxsize=64)      # one entry per route: the routes are fixed when the app is built
def _scopes_needed(route: web.AbstractRoute) -> tuple[str, ...] | None:
    """The scopes the document's `security` names for this route (any one will do); None: a public one."""
    path = (route.resource.canonical if route.resource else "").removeprefix(PREFIX)
    operation = SPEC["paths"].get(path, {}).get(route.method.lower())
    if operation is None:
        return ()
    security = operation.get("security", SPEC["security"])
    if not security:
        return None
    return tuple(dict.fromkeys(scope for requirement in security for scopes in requirement.values()
                               for scope in scopes))
