"""The outbox in this process, on a real store, with whatever modems a test scripts."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Mapping, Sequence

from modemd.domain.policy import Pacing, RetryPolicy, SimPolicy
from modemd.services.outbox import Outbox

# Fast enough for a test, the same shape as the defaults: retries after 0.05, 0.1, 0.2 s; a device pause of 0.3 s.
FAST = RetryPolicy(base=0.05, cap=0.2, max_attempts=3, device_pause=0.3)


@asynccontextmanager
async def running_outbox(store, modems: Sequence, *, policy: RetryPolicy = FAST, pacing: Pacing = Pacing(),
                         sims: Mapping[str, SimPolicy] = {}, **options) -> AsyncIterator[Outbox]:
    """An Outbox sending through `modems` (each with `pacing`, and its SIM's budgets and quarantine from `sims` by
    name: none and the default quarantine if not there), started, and stopped at the end."""
    outbox = Outbox(store, policy=policy, **options)
    for modem in modems:
        outbox.add_modem(modem, pacing, sims.get(modem.name, SimPolicy()))
    outbox.start()
    try:
        yield outbox
    finally:
        await outbox.stop()
