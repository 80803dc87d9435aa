"""Signed POSTs of stored events, retried, resumed after restart.

Events come from the durable logs, never from in-memory callbacks: a capture task tails `message_events` and
`inbox` and writes one `webhook_deliveries` row per subscribed webhook, moving its cursors in the same transaction
(store_webhook.py). One worker per webhook POSTs due rows, a few at a time, and records the outcome. So:
- a crash loses nothing and captures nothing twice; a receiver may see an event again only if modemd died between
  its 2xx and the commit that recorded it, which is why every event carries a stable id to deduplicate on;
- events of one message reach one webhook in order (`sent` before `delivered`): a row is not tried while an
  earlier row of the same message to the same webhook is pending;
- a slow or dead receiver holds up only its own worker: sending SMS never waits for webhooks.

What a POST carries (body, event id, signature) is in webhook_payload.py; docs/webhooks.md shows receivers how
to verify the signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, Sequence
from urllib.parse import urlsplit

import aiohttp

from .. import __version__
from ..config.loader import WebhookConfig
from ..domain.errors import StorageError
from ..log.setup import Throttle
from ..store import Delivery, HookSpec, WebhookStore
from .webhook_payload import hook_key, render, sign

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Modemd-Signature"
EVENT_ID_HEADER = "X-Modemd-Event-Id"
EVENT_TYPE_HEADER = "X-Modemd-Event-Type"
USER_AGENT = f"modemd-webhook/{__version__}"

POLL_INTERVAL = 1.0            # fallback when nobody calls wake(); also bounds how late a due retry starts
CONCURRENCY = 4                # POSTs in flight per webhook: a slow event does not hold up the others
KEEP_DONE = 24 * 3600.0        # delivered rows are kept a day (inspection), then pruned
KEEP_FAILED = 7 * 24 * 3600.0  # rows given up on are kept a week, for whoever investigates the receiver
PRUNE_EVERY = 3600.0
STOP_GRACE = 5.0               # at shutdown, POSTs in flight get this long to finish and be recorded


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


def _host(url: str) -> str:
    """What logs may show of a webhook: its host. Path and query can hold the receiver's own credentials."""
    return urlsplit(url).hostname or "?"


class WebhookDispatcher:
    def __init__(self, store: WebhookStore, hooks: Sequence[WebhookConfig], *,
                 session_factory: Callable[[], aiohttp.ClientSession] | None = None,
                 clock: Callable[[], float] = time.time, backoff: Backoff = Backoff(),
                 concurrency: int = CONCURRENCY, poll_interval: float = POLL_INTERVAL,
                 keep_done: float = KEEP_DONE, keep_failed: float = KEEP_FAILED, stop_grace: float = STOP_GRACE):
        self.wstore = store
        self.clock = clock
        self.backoff = backoff
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.keep_done, self.keep_failed = keep_done, keep_failed
        self.stop_grace = stop_grace
        self._session_factory = session_factory or (lambda: aiohttp.ClientSession())
        self.session: aiohttp.ClientSession | None = None
        self._hooks: dict[str, WebhookConfig] = _index(hooks)
        self._workers: dict[str, _HookWorker] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._last_prune = 0.0
        self._storage_trouble = Throttle(60.0)      # a full disk fails every poll: report it once a minute

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """After store.open(): drops rows of webhooks no longer configured, then captures and delivers."""
        self.session = self._session_factory()
        await self._drop_removed()
        for key, hook in self._hooks.items():
            self._workers[key] = _HookWorker(self, key, hook)
            self._workers[key].start()
        self._task = asyncio.create_task(self._capture_loop(), name="webhook-capture")

    async def stop(self) -> None:
        """Before store.close(): POSTs in flight get stop_grace seconds to finish and be recorded."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.gather(*(w.stop(self.stop_grace) for w in self._workers.values()))
        self._workers.clear()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.session:
            await self.session.close()
            self.session = None

    def wake(self) -> None:
        """Call after a state change or an inbox arrival commits: captured and tried now, not at the next poll."""
        self._wake.set()

    def update_hooks(self, hooks: Sequence[WebhookConfig]) -> None:
        """Config reload: unchanged webhooks (same url and events) keep their pending deliveries and get the new
        secret, timeout and full_numbers; removed ones stop at once and their pending deliveries are dropped."""
        new = _index(hooks)
        self._hooks = new
        if self._task is None:
            return
        for key in [k for k in self._workers if k not in new]:
            self._spawn(self._workers.pop(key).stop(0.0))
        for key, hook in new.items():
            if key in self._workers:
                self._workers[key].hook = hook
            else:
                self._workers[key] = _HookWorker(self, key, hook)
                self._workers[key].start()
        self._spawn(self._drop_removed())
        self.wake()

    async def pending_count(self) -> int:
        """Deliveries not yet done nor given up on, all webhooks together."""
        return await self.wstore.pending_count()

    # ---- capture -----------------------------------------------------------------------------------------------
    async def _capture_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._capture()
                await self._prune_now_and_then()
            except StorageError as exc:
                if self._storage_trouble.due() is not None:
                    log.error("webhook capture: %s; trying again every %.1f s", exc, self.poll_interval)
            except Exception:
                log.exception("webhook capture failed; trying again in %.1f s", self.poll_interval)
            for worker in self._workers.values():
                worker.kick.set()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _capture(self) -> None:
        more = await self.wstore.behind()
        while more:
            created, more = await self.wstore.capture(self._specs, render, self.clock())
            if created:
                log.debug("captured %d webhook deliveries", created)

    def _specs(self) -> list[HookSpec]:
        """Runs on the writer thread inside the capture transaction; reads the current mapping once."""
        return [HookSpec(key, hook.events, hook.full_numbers, hook.app) for key, hook in self._hooks.items()]

    async def _drop_removed(self) -> None:
        dropped = await self.wstore.drop_unknown(lambda: list(self._hooks))
        for key, count in dropped.items():
            log.warning("webhook %s is no longer configured: dropped its %d pending deliveries", key, count)

    async def _prune_now_and_then(self) -> None:
        now = self.clock()
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            await self.wstore.prune(now - self.keep_done, now - self.keep_failed)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _index(hooks: Sequence[WebhookConfig]) -> dict[str, WebhookConfig]:
    index: dict[str, WebhookConfig] = {}
    for hook in hooks:
        key = hook_key(hook)
        if key in index:
            log.warning("webhook %s to %s is configured twice with the same events; using the first", key,
                        _host(hook.url))
            continue
        index[key] = hook
    return index


class _HookWorker:
    """Delivers one webhook's rows: due ones, oldest first, at most `concurrency` at a time."""

    def __init__(self, dispatcher: WebhookDispatcher, key: str, hook: WebhookConfig):
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
                if self.d._storage_trouble.due() is not None:
                    log.error("webhook %s: %s; trying again every %.1f s", self.key, exc, self.d.poll_interval)
                timeout = self.d.poll_interval
            except Exception:
                log.exception("webhook %s: reading due deliveries failed", self.key)
                timeout = self.d.poll_interval
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.kick.wait(), max(0.0, timeout))

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
            if self.d._storage_trouble.due() is not None:
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
                   SIGNATURE_HEADER: sign(hook.secret, body, int(self.d.clock())),
                   EVENT_ID_HEADER: delivery.event_id, EVENT_TYPE_HEADER: delivery.event_type}
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
                        self.key, _host(self.hook.url), delivery.event_type, delivery.event_id,
                        delivery.attempts + 1, age / 3600, error)
            return
        delay = backoff.delay(delivery.attempts + 1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, backoff.cap))
        await self.d.wstore.mark_retry(delivery.seq, now + delay, error)
        log.info("webhook %s (%s): %s %s failed (%s); attempt %d, next in %.1f s", self.key, _host(self.hook.url),
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
