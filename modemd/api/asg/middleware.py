"""The layer's middleware: who is asking (auth.py), and every refusal in the app's error shape (errors.py),
whatever raised it: the layer's own checks, the shared field checks (a 422 Problem there is the app's 400, its
status for a bad request), the store's refusals (api/refusals.py: 429 with Retry-After, 503) and aiohttp's own 404,
405 and 413."""

from __future__ import annotations

from aiohttp import web

from ..refusals import as_problem
from .auth import authenticate
from .errors import AsgError


@web.middleware
async def asg_errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        authenticate(request)
        return await handler(request)
    except AsgError as refusal:
        return refusal.response()
    except Exception as exc:
        problem = as_problem(exc)
        if problem is None:
            raise
        status = 400 if problem.status == 422 else problem.status
        return AsgError(status, problem.detail or problem.title, problem.headers or None).response()
