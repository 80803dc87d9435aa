"""Signed POSTs of stored events, retried, resumed after restart.

Events come from the durable logs, never from in-memory callbacks: a capture task tails `message_events` and
`inbox` and writes one `webhook_deliveries` row per subscribed webhook, moving its cursors in the same transaction
(the store's WebhookStore). One worker per webhook POSTs due rows, a few at a time, and records the outcome. So:
- a crash loses nothing and captures nothing twice; a receiver may see an event again only if modemd died between
  its 2xx and the commit that recorded it, which is why every event carries a stable id to deduplicate on;
- events of one message reach one webhook in order (`sent` before `delivered`): a row is not tried while an
  earlier row of the same message to the same webhook is pending;
- a slow or dead receiver holds up only its own worker: sending SMS never waits for webhooks.

What a POST carries (body, event id, signature) is in payload.py (asg_payload.py for the webhooks apps register
through /asg); one webhook's POSTs in worker.py; docs/webhooks.md shows receivers how to verify the signature.

The webhooks come from two sources: the config's [[webhooks]] (update_hooks() on reload) and, if the daemon gives
one, `registered`: those apps registered through an API, read from the store at start and before every capture, so
a registration on any host of a fleet is known to every host within a poll (a host that did not know a webhook
would drop its deliveries, drop_unknown()).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Awaitable, Callable, Sequence

import aiohttp

from ...config.loader import WebhookConfig
from ...domain.errors import StorageError
from ...log.setup import Throttle
from ...store import HookSpec, WebhookStore
from .asg_payload import render_asg
from .payload import hook_key, render
from .worker import Backoff, HookWorker, host_of

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0            # fallback when nobody calls wake(); also bounds how late a due retry starts
CONCURRENCY = 4                # POSTs in flight per webhook: a slow event does not hold up the others
KEEP_DONE = 24 * 3600.0        # delivered rows are kept a day (inspection), then pruned
KEEP_FAILED = 7 * 24 * 3600.0  # rows given up on are kept a week, for whoever investigates the receiver
PRUNE_EVERY = 3600.0
STOP_GRACE = 5.0               # at shutdown, POSTs in flight get this long to finish and be recorded


class WebhookDispatcher:
    def __init__(self, store: WebhookStore, hooks: Sequence[WebhookConfig], *,
                 registered: Callable[[], Awaitable[Sequence[WebhookConfig]]] | None = None,
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
        self._configured = list(hooks)
        self._read_registered = registered
        self._registered: list[WebhookConfig] = []
        self._hooks: dict[str, WebhookConfig] = _index(hooks)
        self._workers: dict[str, HookWorker] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._last_prune = 0.0
        self.storage_trouble = Throttle(60.0)      # a full disk fails every poll: report it once a minute

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """After store.open(): drops rows of webhooks no longer configured, then captures and delivers."""
        self.session = self._session_factory()
        if self._read_registered is not None:
            self._registered = list(await self._read_registered())
            self._hooks = _index(self._configured + self._registered)
        await self._drop_removed()
        for key, hook in self._hooks.items():
            self._workers[key] = HookWorker(self, key, hook)
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
        self._configured = list(hooks)
        self._apply()

    def _apply(self) -> None:
        """Workers for the configured and registered webhooks as they are now; those gone stop (see update_hooks)."""
        new = _index(self._configured + self._registered)
        self._hooks = new
        if self._task is None:
            return
        for key in [k for k in self._workers if k not in new]:
            self._spawn(self._workers.pop(key).stop(0.0))
        for key, hook in new.items():
            if key in self._workers:
                self._workers[key].hook = hook
            else:
                self._workers[key] = HookWorker(self, key, hook)
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
                await self._refresh_registered()
                await self._capture()
                await self._prune_now_and_then()
            except StorageError as exc:
                if self.storage_trouble.due() is not None:
                    log.error("webhook capture: %s; trying again every %.1f s", exc, self.poll_interval)
            except Exception:
                log.exception("webhook capture failed; trying again in %.1f s", self.poll_interval)
            for worker in self._workers.values():
                worker.kick.set()
            with contextlib.suppress(TimeoutError):        # not wait_for: it can swallow a stop() (worker.py)
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

    async def _refresh_registered(self) -> None:
        """The registered webhooks as the store has them now; a change is applied as a reload applies the config's."""
        if self._read_registered is None:
            return
        registered = list(await self._read_registered())
        if registered != self._registered:
            self._registered = registered
            self._apply()

    async def _capture(self) -> None:
        more = await self.wstore.behind()
        while more:
            created, more = await self.wstore.capture(self._specs, _render, self.clock())
            if created:
                log.debug("captured %d webhook deliveries", created)

    def _specs(self) -> list[HookSpec]:
        """Runs on the writer thread inside the capture transaction; reads the current mapping once."""
        return [HookSpec(key, hook.events, hook.full_numbers, hook.app, hook.payload, hook.hook_id)
                for key, hook in self._hooks.items()]

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


def _render(event, hook: HookSpec) -> tuple[str, str]:
    """The body in the shape the webhook reads: modemd's own, or android-sms-gateway's for one registered there."""
    return render_asg(event, hook) if hook.payload == "asg" else render(event, hook)


def _index(hooks: Sequence[WebhookConfig]) -> dict[str, WebhookConfig]:
    index: dict[str, WebhookConfig] = {}
    for hook in hooks:
        key = hook_key(hook)
        if key in index:
            log.warning("webhook %s to %s is configured twice with the same events; using the first", key,
                        host_of(hook.url))
            continue
        index[key] = hook
    return index
