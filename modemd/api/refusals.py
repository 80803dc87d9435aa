"""What every API of the daemon (the native one and the compatibility layers under it) says the same way, whatever
its error shape: how long to wait after a refusal (Retry-After), and the throttled log line of a failing disk.
"""

from __future__ import annotations

import logging

from ..domain.errors import StorageError
from ..log.setup import Throttle
from ..store import RateLimited

log = logging.getLogger("modemd.api")   # the API's log lines keep one logger name, whichever module writes

# The queue drains at the modems' pace (a few SMS a second at best): half a minute is a fair first wait.
QUEUE_FULL_RETRY_AFTER = 30
# A full disk fails every request: one error line a minute, with the count, not one per request.
STORAGE_RETRY_AFTER = 30
storage_trouble = Throttle(60.0)


def retry_after(limited: RateLimited) -> int:
    """Whole seconds until the limit lets one more through (rounded up past a millisecond), at least 1:
    Retry-After takes an integer."""
    return max(1, int(limited.retry_after + 0.999))


def log_storage_trouble(exc: StorageError) -> None:
    refused = storage_trouble.due()
    if refused is not None:
        log.error("%s; %d request(s) refused with 503 since the last report", exc, refused)
