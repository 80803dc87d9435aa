"""Waiting for something to happen, with one meaning in blocking and in async code.

`wait_for(predicate)` (blocking: other processes, files, HTTP) and `await until(predicate)` (async tests; the
predicate may also return an awaitable) look at `predicate` until it gives a truthy value and return that value.
Past `timeout` seconds they fail with an AssertionError naming the predicate. The timeout is a fail-safe for a hung
test, not a speed requirement (speed is measured in bench/), and nothing here waits to see that nothing happens:
wait for an event that proves the state instead.
"""

from __future__ import annotations

import asyncio
import inspect
import time

TIMEOUT = 10.0
ASYNC_INTERVAL = 0.01     # in-process: a look costs microseconds
SYNC_INTERVAL = 0.05      # usually a request to another process: keep the load the looking adds small


def wait_for(predicate, timeout: float = TIMEOUT, interval: float = SYNC_INTERVAL):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(predicate, timeout)
        time.sleep(interval)


async def until(predicate, timeout: float = TIMEOUT, interval: float = ASYNC_INTERVAL):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(predicate, timeout)
        await asyncio.sleep(interval)


def _timed_out(predicate, timeout: float) -> AssertionError:
    return AssertionError(f"timed out after {timeout} s waiting for {_describe(predicate)}")


def _describe(predicate) -> str:
    """The predicate's source line when there is one (a lambda says more than its repr)."""
    try:
        return inspect.getsource(predicate).strip()[:300]
    except (OSError, TypeError):
        return repr(predicate)
