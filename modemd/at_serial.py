"""The serial link under an AT channel: open, write, close, and connection loss. No AT knowledge.

Built on pyserial-asyncio-fast (an asyncio transport over pyserial; no thread per port), so any path pyserial can
open works, including a pty or a udev symlink to one. Every open() starts a new generation: bytes and connection
loss reported by an older transport are ignored, so a late callback from a port we gave up on cannot reach the
channel that has since reopened.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import serial
import serial_asyncio_fast

from .errors import ChannelClosed
from .log import TRACE

CLOSE_TIMEOUT = 2.0


class _Protocol(asyncio.Protocol):
    """Forwards transport events to the link, tagged with the open() generation they belong to."""

    def __init__(self, link: "SerialLink", generation: int):
        self._link, self._generation = link, generation

    def data_received(self, data: bytes) -> None:
        self._link._data_received(self._generation, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._link._connection_lost(self._generation, exc)


class SerialLink:
    """on_data(bytes) for every read; on_lost(exc, deliberate) once per open() when the transport goes away."""

    def __init__(self, port: str, *, on_data: Callable[[bytes], None],
                 on_lost: Callable[[BaseException | None, bool], None], log: logging.LoggerAdapter):
        self.port = port
        self._on_data, self._on_lost, self._log = on_data, on_lost, log
        self._transport: asyncio.Transport | None = None
        self._generation = 0
        self._closing = False
        self._closed = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def attached(self) -> bool:
        """A transport exists (possibly closing): close() has something to do."""
        return self._transport is not None

    async def open(self, port: str, *, baudrate: int, rtscts: bool) -> None:
        """Raises ChannelClosed if the path cannot be opened."""
        self.port = port
        self._generation += 1
        generation = self._generation
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                asyncio.get_running_loop(), lambda: _Protocol(self, generation), port,
                baudrate=baudrate, rtscts=rtscts)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ChannelClosed(f"cannot open {port}: {exc}") from exc
        self._closing = False
        self._closed = asyncio.Event()
        self._transport = transport

    async def close(self) -> None:
        """Close the transport and wait (up to CLOSE_TIMEOUT) until it reports the loss; on_lost gets deliberate."""
        transport = self._transport
        if transport is None:
            return
        self._closing = True
        transport.close()
        try:
            await asyncio.wait_for(self._closed.wait(), CLOSE_TIMEOUT)
        except TimeoutError:
            self._log.warning("closing %s took longer than %.0f s", self.port, CLOSE_TIMEOUT)
        self._transport = None

    def write(self, data: bytes, shown: str) -> None:
        """Write data, traced as `shown` (never the raw bytes: they may hold a secret)."""
        if not self.is_open:
            raise ChannelClosed(f"{self.port} is not open")
        self.trace("tx %s", shown)
        self._transport.write(data)

    def trace(self, msg: str, *args) -> None:
        if self._log.isEnabledFor(TRACE):
            self._log.log(TRACE, msg, *args)

    def _data_received(self, generation: int, data: bytes) -> None:
        if generation == self._generation:
            self._on_data(data)

    def _connection_lost(self, generation: int, exc: BaseException | None) -> None:
        if generation != self._generation:
            return
        self._transport = None
        try:
            self._on_lost(exc, self._closing)
        finally:
            self._closed.set()
