"""The simulators' processes run until SIGINT or SIGTERM: the handler only sets a flag; shutdown happens after."""
from __future__ import annotations

import asyncio
import signal


async def until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
