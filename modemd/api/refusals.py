"""What a refusal from below the handlers means to a client: the store's (disk full, queue full, a rate limit) and
aiohttp's own (404, 405, 413) as a Problem. Every app's middleware asks here, the root's (problem+json) and the
compatibility APIs' (their own error bodies), so each refusal has one status, one text and one log line; a layer
with its own codes (Twilio's) takes the Retry-After and the log line from here too."""

from __future__ import annotations

import logging

from aiohttp import web

from .limits import MAX_BODY
from .validation import Problem
from ..domain.errors import StorageError
from ..log.setup import Throttle
from ..store import QueueFull, RateLimited

log = logging.getLogger("modemd.api")

# The queue drains at the modems' pace (a few SMS a second at best): half a minute is a fair first wait.
QUEUE_FULL_RETRY_AFTER = 30
# A full disk fails every request: one error line a minute, with the count, not one per request.
STORAGE_RETRY_AFTER = 30
storage_trouble = Throttle(60.0)


def as_problem(exc: Exception) -> Problem | None:
    """The Problem `exc` answers as; None for an exception that is no refusal (a bug: let it be a 500)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, StorageError):
        log_storage_trouble(exc)
        return Problem(503, "Storage unavailable", "the database cannot record this now (disk full or I/O error); "
                       "nothing was done. Try again later.", retry_after=STORAGE_RETRY_AFTER)
    if isinstance(exc, QueueFull):
        return Problem(503, "Queue full", "as many messages are waiting as this server allows; nothing was queued. "
                       "Try again later.", retry_after=QUEUE_FULL_RETRY_AFTER)
    if isinstance(exc, RateLimited):
        seconds = retry_after(exc)
        return Problem(429, "Too many requests", f"try again in {seconds} s", retry_after=seconds)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return Problem(413, "Body too large", f"at most {MAX_BODY} bytes")
    if isinstance(exc, web.HTTPException):   # aiohttp's own 404 / 405
        # RFC 9110 15.5.6: a 405 lists the methods the resource has
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return Problem(exc.status, exc.reason, headers=allow)
    return None


def retry_after(limited: RateLimited) -> int:
    """Whole seconds until the limit lets one more through (rounded up past a millisecond), at least 1:
    Retry-After takes an integer."""
    return max(1, int(limited.retry_after + 0.999))


def log_storage_trouble(exc: StorageError) -> None:
    refused = storage_trouble.due()
    if refused is not None:
        log.error("%s; %d request(s) refused with 503 since the last report", exc, refused)
