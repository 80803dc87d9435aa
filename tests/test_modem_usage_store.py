"""What a modem sent, failed and left unknown since a time (Store.sent_parts, Store.modem_counts), on both backends:
the SIM budgets load from the first, /v1/modems' counters from the second (store/modem_usage.py)."""

from __future__ import annotations

import time

from kit import outbound
from modemd.domain.errors import CmsError


async def send(store, modem: str, *, parts: int = 1, outcome: str = "sent", **fields):
    """One message claimed by `modem` and ended by `outcome`: sent, failed, ambiguous (requeued as possibly sent),
    retry (requeued, nothing left), or duplicate (possibly sent first, then sent on the resend)."""
    sms = outbound("x" * parts, parts=parts, **fields)
    await store.enqueue(sms)
    assert (await store.claim_next(modem)).id == sms.id
    if outcome in ("ambiguous", "duplicate"):
        resend_at = time.time() + (0 if outcome == "duplicate" else 3600)     # not claimed by the next send()
        await store.mark_retry(sms.id, resend_at, "possibly sent: timeout", error_code="timeout", possibly_sent=True)
    if outcome == "duplicate":
        assert (await store.claim_next(modem)).id == sms.id
    if outcome in ("sent", "duplicate"):
        await store.mark_sent(sms.id, [1] * parts, purge_text=False)
    elif outcome == "failed":
        await store.mark_failed(sms.id, str(CmsError(1)), error_code="CMS 1")
    elif outcome == "retry":
        await store.mark_retry(sms.id, time.time() + 3600, "congestion", error_code="CMS 42")
    return sms


async def test_sent_parts_counts_what_left_and_what_may_have(any_store):
    start = time.time() - 1
    await send(any_store, "a", parts=3)
    await send(any_store, "a", parts=2, outcome="ambiguous")    # may have left: counts until settled
    await send(any_store, "a", outcome="failed")                 # refused: nothing left
    await send(any_store, "a", outcome="retry")                  # nothing left, waits for a retry
    await send(any_store, "b", parts=4)                          # another modem's
    assert await any_store.sent_parts("a", start) == 5
    assert await any_store.sent_parts("b", start) == 4
    assert await any_store.sent_parts("c", start) == 0


async def test_sent_parts_counts_only_since_the_time_asked(any_store):
    await send(any_store, "a", parts=2)
    later = time.time() + 0.001
    while time.time() <= later:
        pass
    await send(any_store, "a", parts=1)
    assert await any_store.sent_parts("a", later) == 1
    assert await any_store.sent_parts("a", later - 3600) == 3


async def test_a_possible_duplicate_sent_again_counts_once(any_store):
    start = time.time() - 1
    await send(any_store, "a", parts=2, outcome="duplicate")
    assert await any_store.sent_parts("a", start) == 2


async def test_modem_counts(any_store):
    start = time.time() - 1
    for outcome in ("sent", "sent", "duplicate", "failed", "failed", "ambiguous", "retry"):
        await send(any_store, "a", outcome=outcome)
    await send(any_store, "b", outcome="failed")
    assert await any_store.modem_counts("a", start) == {"sent": 3, "failed": 2, "possible_duplicate": 1,
                                                        "unknown": 1}
    assert await any_store.modem_counts("b", start) == {"sent": 0, "failed": 1, "possible_duplicate": 0,
                                                        "unknown": 0}
    assert await any_store.modem_counts("a", time.time() + 60) == {"sent": 0, "failed": 0,
                                                                   "possible_duplicate": 0, "unknown": 0}
