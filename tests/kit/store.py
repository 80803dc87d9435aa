"""A real store on a fresh SQLite file or on an emptied PostgreSQL database, outbound messages made the way the API
makes them, and waits on their rows."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from modemd.domain.sms import OutboundSms, State, new_message_id
from modemd.store.sqlite.queue import Store

TO = "+4915112345678"


@asynccontextmanager
async def open_store(path: Path) -> AsyncIterator[Store]:
    """A real Store (WAL, synchronous=FULL) on `path`, opened, and closed at the end."""
    store = Store(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


# Every table the PostgreSQL store writes, emptied between tests (the schema stays).
PG_TABLES = ("messages", "message_events", "message_counts", "rate_events", "otp_verifications", "otp_failures",
             "rate_slots", "inbox_parts", "inbox", "status_reports", "webhook_deliveries", "nodes", "webhook_backlog",
             "asg_webhooks")


@asynccontextmanager
async def open_pg_store(server, node: str = "host-a", **options):
    """A real PostgreSQL Store on `server` (kit.postgres.PostgresServer, started), every table emptied, opened as
    host `node`, and closed at the end."""
    from modemd.store.postgres.queue import Store as PgStore
    store = PgStore(server.url, server.password, node, **options)
    await store.open()
    try:
        await empty_pg(store)
        yield store
    finally:
        await store.close()


async def empty_pg(store) -> None:
    async def work(conn):
        await conn.execute(f"TRUNCATE {', '.join(PG_TABLES)} RESTART IDENTITY")
    await store.db.write(work)


RECORD_KINDS = {"otp": "OtpStore", "inbox": "InboxStore", "webhooks": "WebhookStore", "retention": "Retention"}


def record_stores(store):
    """The other record kinds' classes of `store`'s backend: (OtpStore, InboxStore, WebhookStore, Retention)."""
    return tuple(record_store(store, module) for module in RECORD_KINDS)


def record_store(store, module: str):
    """One record kind's class of `store`'s backend, by its module ("webhooks" -> WebhookStore); ImportError
    if the backend has none (yet)."""
    import importlib
    package = type(store).__module__.rpartition(".")[0]       # modemd.store.sqlite or modemd.store.postgres
    return getattr(importlib.import_module(f"{package}.{module}"), RECORD_KINDS[module])


def outbound(text: str = "hello", *, to: str = TO, **fields) -> OutboundSms:
    """A message as POST /v1/messages queues it: one part, due now; `fields` set the rest (kind, priority, ...)."""
    now = time.time()
    return OutboundSms(**{"id": new_message_id(), "to": to, "text": text, "parts": 1, "next_attempt_at": now,
                          "created_at": now, "updated_at": now, **fields})


def in_state(store: Store, *messages: OutboundSms, state: State):
    """A predicate for `until`: every one of `messages` is in `state` in the store."""
    async def check() -> bool:
        return all([(await store.get(m.id)).state is state for m in messages])
    return check


def recorded(store: Store, sms: OutboundSms, **values):
    """A predicate for `until`: the stored row of `sms` has these field values (error_code="CMS 50", ...)."""
    async def check() -> bool:
        row = await store.get(sms.id)
        return all(getattr(row, name) == value for name, value in values.items())
    return check
