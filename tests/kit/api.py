"""The HTTP API in this process, on a real aiohttp server (loopback), over a real store; no modems."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from aiohttp.test_utils import TestClient, TestServer

from modemd.api.app import build_app
from modemd.config.model import LimitsConfig
from .store import record_store


class FakeDaemon:
    """The daemon's view the HTTP API needs (api.validation.DaemonView), for in-process API tests: the store and
    the OTP service behind it are real; modems are not there (`ready` says what the test wants)."""

    def __init__(self, store, otp=None, *, tokens=None, ready: bool = False, modems: list[dict] = (),
                 routes: tuple = (), sim_numbers: dict[int, str] | None = None):
        from modemd.api.metrics import Metrics
        self.store, self.otp = store, otp
        self.metrics = Metrics()
        self.tokens = tokens
        self.default_region = "DE"
        self.limits = LimitsConfig()
        self.inbox_store = record_store(store, "inbox")(store)     # of the store's backend
        self.webhook_store = record_store(store, "webhooks")(store)
        self.webhook_changes = 0
        self._modems = list(modems)     # what modem_states() says: [{"name": "sim0", "state": "ready"}, ...]
        self.admin_socket = None      # the API is reached over TCP only
        self.accepted = 0
        self._ready = ready
        self.routes = routes            # [[routes]] rules (config.model.RouteConfig)
        self.sim_numbers = sim_numbers if sim_numbers is not None else \
            {i: m["name"] for i, m in enumerate(self._modems, 1)}

    def ready(self):
        return self._ready

    def modem_states(self):
        return self._modems

    def webhooks_changed(self):
        self.webhook_changes += 1

    def message_accepted(self, kind):
        self.accepted += 1


@asynccontextmanager
async def api_client(daemon: FakeDaemon) -> AsyncIterator[TestClient]:
    """An HTTP client of the API app built on `daemon` (`client.daemon`, `client.store` are handy in tests)."""
    client = TestClient(TestServer(build_app(daemon)))
    await client.start_server()
    client.daemon, client.store = daemon, daemon.store
    try:
        yield client
    finally:
        await client.close()
