"""One webhook's deliveries: due rows POSTed, a few at a time, signed; the outcome recorded; a receiver that looks
down pauses its webhook with backoff (the dispatcher's docstring has the guarantees)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Callable, Protocol
from urllib.parse import urlsplit

import aiohttp

from ... import __version__
from ...config.loader import WebhookConfig
from ...domain.errors import StorageError
from ...log.setup import Throttle
from ...store import Delivery, WebhookStore
from .signing import SignedPost, signature_headers

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Modemd-Event-Id"
EVENT_TYPE_HEADER = "X-Modemd-Event-Type"
USER_AGENT = f"modemd-webhook/{__version__}"


@dataclass(frozen=True)
class Backoff:
    """Retry schedule per delivery: base, x factor, capped; 'equal jitter' (half fixed, half random) so receivers
    coming back are not hit by every sender at the same instant. Given up after max_age since first captured."""
    base: float = 5.0
    factor: float = 2.0
    cap: float = 30 * 60.0
    max_age: float = 12 * 3600.0

    def delay(self, failures: int) -> float:
        step = min(self.cap, self.base * self.factor ** max(0, failures - 1))
        return step / 2 + random.uniform(0, step / 2)


def host_of(url: str) -> str:
    """What logs may show of a webhook: its host. Path and query can hold the receiver's own credentials."""
    return urlsplit(url).hostname or "?"


class DispatcherView(Protocol):
    """What a worker uses of the dispatcher that owns it (WebhookDispatcher): the store, the HTTP session, the clock
    and the schedule, and the throttle that keeps a failing disk from flooding the log."""
    wstore: WebhookStore
    session: aiohttp.ClientSession | None
    clock: Callable[[], float]
    backoff: Backoff
    concurrency: int
    poll_interval: float
    storage_trouble: Throttle


class HookWorker:
    """Delivers one webhook's rows: due ones, oldest first, at most `concurrency` at a time."""

    def __init__(self, dispatcher: DispatcherView, key: str, hook: WebhookConfig):
        self.d = dispatcher
        self.key = key
        self.hook = hook
        self.kick = asyncio.Event()
        self.inflight: dict[int, asyncio.Task] = {}
        self.streak = 0                 # consecutive failures that say the receiver is down or overloaded
        self.paused_until = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"webhook-{self.key}")

    async def stop(self, grace: float) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.inflight:
            await asyncio.wait(list(self.inflight.values()), timeout=grace)
        for task in list(self.inflight.values()):
            task.cancel()        # its row stays pending: tried again after the restart
        await asyncio.gather(*self.inflight.values(), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self.kick.clear()
            try:
                timeout = await self._start_due()
            except StorageError as exc:
                if self.d.storage_trouble.due() is not None:
                    log.error("webhook %s: %s; trying again every %.1f s", self.key, exc, self.d.poll_interval)
                timeout = self.d.poll_interval
            except Exception:
                log.exception("webhook %s: reading due deliveries failed", self.key)
                timeout = self.d.poll_interval
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for returns instead of raising when the task is
            # cancelled just as the kick comes (a POST ending as the worker is stopped), and stop() waits forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, timeout)):
                    await self.kick.wait()

    async def _start_due(self) -> float:
        """Starts what is due; returns how long to wait before looking again (a kick cuts it short)."""
        now = self.d.clock()
        if now < self.paused_until:
            return min(self.d.poll_interval, self.paused_until - now)
        free = self.d.concurrency - len(self.inflight)
        if free > 0:
            for delivery in await self.d.wstore.due(self.key, now, free, set(self.inflight)):
                task = asyncio.create_task(self._deliver(delivery), name=f"webhook-{self.key}-{delivery.seq}")
                self.inflight[delivery.seq] = task
        upcoming = await self.d.wstore.next_due_at(self.key)
        if upcoming is not None and upcoming > now:
            return min(self.d.poll_interval, upcoming - now)
        return self.d.poll_interval

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            ok, error, outage, retry_after = await self._post(delivery)
            if ok:
                self.streak, self.paused_until = 0, 0.0
                await self.d.wstore.mark_done(delivery.seq, self.d.clock())
            else:
                await self._failed(delivery, error, outage, retry_after)
        except asyncio.CancelledError:
            raise
        except StorageError as exc:     # not recorded: the row stays pending and is posted again (same event id)
            if self.d.storage_trouble.due() is not None:
                log.error("webhook %s: %s; delivery %d will be posted again", self.key, exc, delivery.seq)
        except Exception:
            log.exception("webhook %s: recording delivery %d failed", self.key, delivery.seq)
        finally:
            # Only now, with the outcome committed, may the row (or the next one of its message) be read again.
            self.inflight.pop(delivery.seq, None)
            self.kick.set()

    async def _post(self, delivery: Delivery) -> tuple[bool, str, bool, float | None]:
        """One attempt. Returns (2xx, error, looks like an outage, Retry-After seconds)."""
        hook, body = self.hook, delivery.body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   EVENT_ID_HEADER: delivery.event_id, EVENT_TYPE_HEADER: delivery.event_type}
        # The event id, not the delivery row: webhook-id must stay the same on every attempt of one event.
        post = SignedPost(delivery.event_id, int(self.d.clock()), body)
        headers |= signature_headers(hook.signatures, (hook.secret,), post)
        try:
            # Redirects are not followed: the signature was meant for the configured receiver only.
            async with self.d.session.post(hook.url, data=body, headers=headers, allow_redirects=False,
                                           timeout=aiohttp.ClientTimeout(total=hook.timeout)) as response:
                status, retry_after = response.status, _retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return False, _describe(exc), True, None
        if 200 <= status < 300:
            return True, "", False, None
        return False, f"HTTP {status}", status >= 500 or status == 429, retry_after

    async def _failed(self, delivery: Delivery, error: str, outage: bool, retry_after: float | None) -> None:
        now, backoff = self.d.clock(), self.d.backoff
        if outage:
            # The receiver looks down: the whole webhook waits, so a backlog is not replayed into a dead host.
            self.streak += 1
            self.paused_until = max(self.paused_until, now + backoff.delay(self.streak))
        age = now - delivery.queued_at
        if age >= backoff.max_age:
            await self.d.wstore.mark_failed(delivery.seq, now, error)
            log.warning("webhook %s (%s): gave up on %s %s after %d attempts over %.1f h; last error: %s",
                        self.key, host_of(self.hook.url), delivery.event_type, delivery.event_id,
                        delivery.attempts + 1, age / 3600, error)
            return
        delay = backoff.delay(delivery.attempts + 1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, backoff.cap))
        await self.d.wstore.mark_retry(delivery.seq, now + delay, error)
        log.info("webhook %s (%s): %s %s failed (%s); attempt %d, next in %.1f s", self.key, host_of(self.hook.url),
                 delivery.event_type, delivery.event_id, error, delivery.attempts + 1, delay)


def _retry_after(value: str | None) -> float | None:
    """RFC 9110 10.2.3; only the delay-seconds form is honoured (an HTTP-date is rare from webhook receivers)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    """Connection errors without the URL (its path or query may hold the receiver's credentials)."""
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
    return type(exc).__name__
