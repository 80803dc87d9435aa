"""A real store on a fresh SQLite file, outbound messages made the way the API makes them, and waits on their rows."""

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
