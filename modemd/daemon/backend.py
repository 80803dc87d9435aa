"""Which store the daemon runs on, chosen by [database]: SQLite in the state directory (no url), or PostgreSQL shared
by a fleet of hosts (a postgresql:// url). The one place that imports the backends; everything else gets the
interfaces (store.Store, OtpStore, InboxStore, WebhookStore) and, on PostgreSQL, a Fleet.

The PostgreSQL backend needs psycopg (the `postgresql` extra): imported only when a url asks for it, so a one-box
install carries no driver it does not use.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config.digest import differing
from ..config.loader import ConfigError
from ..config.model import DatabaseConfig
from ..domain.errors import StorageError
from ..services.outbox.health import sends_now

log = logging.getLogger(__name__)

# A host silent this long is taken as gone for good (decommissioned, renamed): its modems leave the views.
FORGET_AFTER = 86400.0
# How the config's sections (config/digest.py) are named in a log line.
_SECTION_NAMES = {"apps": "[[apps]]", "limits": "[limits]", "otp": "[otp] settings", "routes": "[[routes]]",
                  "webhooks": "[[webhooks]]"}
# Seconds between two looks at the fleet (this host's renewal, the other hosts' rows); at most a third of the lease.
FLEET_INTERVAL = 2.0


@dataclass
class Backend:
    store: Any                  # store.Store
    otp: Any                    # store.OtpStore
    inbox: Any                  # store.InboxStore
    webhooks: Any               # store.WebhookStore
    retention: Any              # .prune(now, records=, numbers=)
    fleet: "Fleet | None"       # None on SQLite: one host


def build_backend(database: DatabaseConfig, state_dir: Path) -> Backend:
    if database.url is None:
        from ..store.sqlite.inbox import InboxStore
        from ..store.sqlite.otp import OtpStore
        from ..store.sqlite.queue import Store
        from ..store.sqlite.retention import Retention
        from ..store.sqlite.webhooks import WebhookStore
        store = Store(state_dir / "modemd.db")
        return Backend(store, OtpStore(store), InboxStore(store), WebhookStore(store), Retention(store.db), None)
    try:
        from ..store.postgres.inbox import InboxStore as PgInboxStore
        from ..store.postgres.otp import OtpStore as PgOtpStore
        from ..store.postgres.queue import Store as PgStore
        from ..store.postgres.retention import Retention as PgRetention
        from ..store.postgres.webhooks import WebhookStore as PgWebhookStore
    except ImportError as exc:
        raise ConfigError("database.url", f"PostgreSQL needs the driver modemd's `postgresql` extra installs "
                                          f"(pip install 'modemd[postgresql]'): {exc}") from None
    store = PgStore(database.url, database.password, database.node, lease=database.lease)
    return Backend(store, PgOtpStore(store), PgInboxStore(store), PgWebhookStore(store), PgRetention(store.db),
                   Fleet(store, database.lease))


def key_id(secret: bytes) -> str:
    """Names an OTP secret without giving it away: an HMAC of a fixed text under it. Hosts compare these."""
    return hmac.new(secret, b"modemd fleet: which OTP secret", hashlib.sha256).hexdigest()[:32]


class Fleet:
    """This host's place among the hosts on one PostgreSQL: it renews its lease (its row in `nodes`, with its modems
    as it sees them, and the leases of its sends in flight) and keeps a copy of the other hosts' rows for the views
    (/v1/modems, /metrics, /readyz, `modemd status`), which must answer without a query each."""

    def __init__(self, store, lease: float):
        self.store = store
        self.node = store.node
        self.lease = lease
        self.interval = min(FLEET_INTERVAL, lease / 3)
        self.others: list[dict] = []            # the other hosts' rows, as last read
        self.renewed_at: float | None = None    # this host's last renewal that committed
        self.reachable = False                  # the last renewal reached the database
        self.otp_key = ""                       # which OTP secret this host has (key_id)
        self.config: dict[str, str] = {}        # this host's config digests (config/digest.py)
        self._disagreeing: dict[str, tuple[str, ...]] = {}     # host -> the sections last warned about
        self._task: asyncio.Task | None = None

    async def join(self, otp_secret: bytes, modems: list[dict], config: dict[str, str] | None = None) -> None:
        """Before this host serves: refuse to join a fleet whose live hosts have another OTP secret (a code issued
        on one host would never verify on another, and one host could not open the codes another sealed), then
        the first renewal, so the other hosts know this one. `config`: this host's config digests, compared with
        the other hosts' at every renewal (a WARNING when they differ)."""
        self.otp_key = key_id(otp_secret)
        self.config = dict(config or {})
        now = time.time()
        others = [n for n in await self.store.nodes() if n["name"] != self.node and self.alive(n, now)]
        differ = sorted(n["name"] for n in others if n["otp_key"] and n["otp_key"] != self.otp_key)
        if differ:
            raise ConfigError("otp secret", f"this host's OTP secret is not the one of host(s) {', '.join(differ)} "
                                            "on the same database: give every host the same secret (copy the "
                                            "state directory's otp-secret file, or the credential modemd-otp-secret)")
        await self.renew(modems)

    def start(self, modems: Callable[[], list[dict]]) -> None:
        self._task = asyncio.create_task(self._run(modems), name="fleet-renew")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def renew(self, modems: list[dict]) -> None:
        now = time.time()
        await self.store.renew(modems, now, otp_key=self.otp_key, config=self.config)
        self.renewed_at, self.reachable = now, True
        self.others = [n for n in await self.store.nodes() if n["name"] != self.node]
        self._compare_configs(now)

    def _compare_configs(self, now: float) -> None:
        """A WARNING when a live host's apps, limits, OTP settings, routes or webhooks differ from this host's (a
        client may call any host; each routes, limits and announces what it accepts), again when that changes, and
        an INFO when they agree again."""
        for node in self.others:
            if not self.alive(node, now):
                continue
            name, sections = node["name"], tuple(differing(self.config, node.get("config") or {}))
            if sections == self._disagreeing.get(name, ()):
                continue
            if sections:
                log.warning("host %s has other %s than this host: a message is routed, limited and announced by "
                            "the host that accepts it, so give every host the same (docs/fleet.md)", name,
                            ", ".join(_SECTION_NAMES[s] for s in sections))
            else:
                log.info("host %s's config agrees with this host's again", name)
            self._disagreeing[name] = sections

    async def _run(self, modems: Callable[[], list[dict]]) -> None:
        lost = False
        while True:
            try:
                await self.renew(modems())
                if lost:
                    log.info("database reachable again; this host's lease is renewed")
                lost = False
            except StorageError as exc:
                self.reachable = False
                if not lost:
                    log.error("cannot renew this host's lease: %s; its sends in flight go to other hosts if this "
                              "lasts %.0f s", exc, self.lease)
                lost = True
            await asyncio.sleep(self.interval)

    def alive(self, node: dict, now: float | None = None) -> bool:
        """The host renewed within its lease."""
        now = time.time() if now is None else now
        return node["renewed_at"] + node["lease"] >= now

    def other_modems(self) -> list[dict]:
        """The other hosts' modems as they last reported them, with their host and its last renewal; a modem of a
        host whose lease ran out is `host_lost` whatever it last said, and one silent for FORGET_AFTER is left out."""
        now = time.time()
        found = []
        for node in self.others:
            if node["renewed_at"] < now - FORGET_AFTER:
                continue
            alive = self.alive(node, now)
            for modem in node["modems"]:
                found.append({**modem, "host": node["name"], "host_renewed_at": node["renewed_at"],
                              "state": modem["state"] if alive else "host_lost"})
        return found

    def others_can_send(self) -> bool:
        return any(sends_now(m) for m in self.other_modems())
