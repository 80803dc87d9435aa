"""What the daemon runs beside its services: the prune loop (old verifications, rate-limit hits, records past their
retention) and the simulated modem of `modemd run --simulate`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Callable

from ..config.loader import ModemConfig
from ..config.model import RetentionConfig
from .listeners import socket_path

log = logging.getLogger("modemd.daemon.lifecycle")   # the journal's lines keep the logger name they always had

# How often old OTP verifications and rate-limit hits are pruned.
PRUNE_INTERVAL = 3600.0


async def prune_forever(otp, retention, kept: Callable[[], RetentionConfig]) -> None:
    """Rate-limit hits and old verifications would otherwise grow the database (and the limit index) forever.
    The first prune runs at start-up: it also loads the rate-limit index on the writer thread (a day of hits),
    so the first OTP request does not load it on the event loop. `kept`: the retention in force (a reload changes
    it)."""
    while True:
        try:
            await otp.prune()
            keep = kept()
            pruned = await retention.prune(time.time(), records=keep.records, numbers=keep.numbers)
            if pruned:
                log.info("retention: numbers masked %s, records deleted %s", pruned.masked, pruned.deleted)
        except Exception:      # a failed prune is retried next time; it must not stop the loop
            log.exception("pruning old records failed")
        await asyncio.sleep(PRUNE_INTERVAL)


async def start_simulated_modem(state_dir: Path):
    """The simulated modem in the daemon's process, its control socket (if the path fits a unix socket) and the
    [[modems]] table that drives it: (SimulatedModem, ControlServer | None, ModemConfig)."""
    from ..simulator import ControlServer, SimulatedModem   # only the demo and tests need them
    handset = state_dir / "handset.jsonl"
    control = socket_path(state_dir / "sim-modem0.sock")
    simulator = SimulatedModem(link=str(state_dir / "sim-modem0"), handset_path=str(handset))
    await simulator.start()
    server = None
    if control:
        server = ControlServer(simulator, str(control))
        await server.start()
    log.info("simulated modem on %s; SMS it sends are recorded in %s%s", simulator.port, handset,
             f"; its control socket (inbound SMS, faults) is {control}" if control else "")
    return simulator, server, ModemConfig(name="sim0", port=simulator.port, registration_timeout=10.0)
