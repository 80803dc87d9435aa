"""The phone's webhooks: registrations (WebHooksService) and signed deliveries with retries.

Envelope (WebHookEventDTO): {"id", "webhookId", "event", "deviceId", "payload"}, one per registration of that event.
Signature (PayloadSingingPlugin): X-Timestamp is Unix seconds, X-Signature the lower-case hex HMAC-SHA256 under the
signing key (its UTF-8 bytes) of the body followed by the timestamp's digits.
Retries (WebhookQueueProcessorWorker): any answer outside 2xx or a network error is tried again, up to the app's
retry_count (default 15); the app waits 5 s and more between tries under WorkManager, here attempt n waits
n * retry_delay seconds (linear, bounded by the count). While the app is "killed" deliveries wait and resume on
restart, as the app's queue lives in its database.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlsplit

import aiohttp

from .state import nanoid

log = logging.getLogger(__name__)

EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed", "sms:data-received", "mms:received",
          "mms:downloaded", "system:ping", "app:started", "sms:cancelled")
RETRY_COUNT = 15            # WebhooksSettings.retryCount's default
RETRY_DELAY = 5.0           # WebhookQueueProcessorWorker.MIN_BACKOFF_DELAY_MS
REQUEST_TIMEOUT = 30.0      # the worker's HttpTimeout requestTimeoutMillis


def sign(key: str, body: bytes, timestamp: str) -> str:
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


class WebhookRegistry:
    """The registrations of the local server (EntitySource.Local), by id."""

    def __init__(self):
        self._hooks: dict[str, dict] = {}

    def replace(self, body) -> dict:
        """Upsert by id (POST /webhooks), with WebHooksService.replace()'s checks; ValueError -> 400."""
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            raise ValueError("url is required")
        url = body["url"]
        parts = urlsplit(url)
        # The release build: https, or plain http to 127.0.0.1 only (a receiver on the phone itself or adb reverse).
        if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname == "127.0.0.1")):
            raise ValueError("url must start with https:// or http://127.0.0.1")
        if body.get("event") not in EVENTS:
            raise ValueError("Unsupported event")
        hook = {"id": body.get("id") or nanoid(), "deviceId": None, "url": url, "event": body["event"],
                "source": "Local"}
        self._hooks[hook["id"]] = hook
        return dict(hook)

    def delete(self, hook_id: str) -> None:
        self._hooks.pop(hook_id, None)

    def all(self) -> list[dict]:
        return [dict(h) for h in self._hooks.values()]

    def for_event(self, event: str) -> list[dict]:
        return [dict(h) for h in self._hooks.values() if h["event"] == event]


class WebhookSender:
    """Sends each event to every registration of it, signed, retried; `faults.drop_webhooks` loses events."""

    def __init__(self, registry: WebhookRegistry, *, device_id: str, signing_key: str, faults,
                 running: asyncio.Event, retry_count: int = RETRY_COUNT, retry_delay: float = RETRY_DELAY):
        self.registry, self.device_id, self.signing_key, self.faults = registry, device_id, signing_key, faults
        self.running, self.retry_count, self.retry_delay = running, retry_count, retry_delay
        self.sent = 0               # deliveries answered 2xx
        self.dropped = 0            # events lost to the drop_webhooks fault
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                                              headers={"User-Agent": "me.capcom.smsgateway/simulated"})

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session:
            await self._session.close()

    def emit(self, event: str, payload: dict) -> int:
        """Queue the event for each registration; returns how many deliveries were queued."""
        queued = 0
        for hook in self.registry.for_event(event):
            envelope = {"id": nanoid(), "webhookId": hook["id"], "event": event, "deviceId": self.device_id,
                        "payload": payload}
            if self.faults.take_dropped_webhook():
                self.dropped += 1
                log.info("webhook %s %s to %s dropped (fault)", envelope["id"], event, hook["url"])
                continue
            task = asyncio.get_running_loop().create_task(self._deliver(hook["url"], envelope))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            queued += 1
        return queued

    async def _deliver(self, url: str, envelope: dict) -> None:
        body = json.dumps(envelope, ensure_ascii=False).encode()
        for attempt in range(1, self.retry_count + 1):
            await self.running.wait()           # the app is down: its queue waits in the database
            if await self._post(url, body):
                self.sent += 1
                return
            await asyncio.sleep(attempt * self.retry_delay)
        log.warning("webhook %s %s to %s: gave up after %d attempts", envelope["id"], envelope["event"], url,
                    self.retry_count)

    async def _post(self, url: str, body: bytes) -> bool:
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Timestamp": stamp,
                   "X-Signature": sign(self.signing_key, body, stamp)}
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                return 200 <= response.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.info("webhook to %s failed: %s", url, exc)
            return False
