"""The serial link under an AT channel: open, write, close, and connection loss. No AT knowledge.

Built on pyserial-asyncio-fast (an asyncio transport over pyserial; no thread per port), so any path pyserial can
open works, including a pty or a udev symlink to one. Every open() starts a new generation: bytes and connection
loss reported by an older transport are ignored, so a late callback from a port we gave up on cannot reach the
channel that has since reopened.

A port is held exclusively: two programs talking AT on one port interleave commands and answers, and each one's
commands disturb the other's (a probe's AT+CMGF=0 under a daemon mid-send). Linux has no single lock every serial
tool respects, so open() honours and takes the ones that matter:

- flock(LOCK_EX|LOCK_NB), pyserial's exclusive=True: picocom, pyserial users that ask for exclusive, and another
  modemd (probe, sendsms, a second daemon) take it. pyserial takes it before it changes any setting, so a refused
  second opener does not touch the line.
- TIOCEXCL (ModemManager sets it on the ports it drives): the kernel then refuses other opens with EBUSY, which we
  report as "in use"; we set it too, so screen, cat or minicom run by a non-root user cannot open the daemon's port
  (root bypasses it). Not on a pty: the simulator holds the slave open, so a flag left by a killed modemd would
  outlive it and refuse the restarted one. Cleared before close for the same reason on a real tty someone else
  still holds open.
- UUCP lock files (/run/lock/LCK..ttyUSB2: minicom, cu, gammu with UseLocking) are checked, not created: creating
  them needs /run/lock writable in the hardened unit, and a stale one left by a crash would block us.

Why an open failed is told apart (port_check.PortUnavailable.reason), because each asks for a different fix:
unplugged, held by another process, permissions, or not a serial port at all.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import logging
import os
import termios
from typing import Callable

import serial
import serial_asyncio_fast

from .port_check import check_port, explain_open_error
from ..domain.errors import ChannelClosed
from ..log.setup import TRACE

CLOSE_TIMEOUT = 2.0
# UNIX98 pty slaves (/dev/pts/N) have majors 136-143 (Documentation/admin-guide/devices.txt).
PTY_SLAVE_MAJORS = range(136, 144)


class _Protocol(asyncio.Protocol):
    """Forwards transport events to the link's callbacks, already tagged with the open() generation they belong to."""

    def __init__(self, on_data: Callable[[bytes], None], on_lost: Callable[[Exception | None], None]):
        self.data_received, self.connection_lost = on_data, on_lost


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
        self._excl_fd: int | None = None     # the fd we set TIOCEXCL on, to clear it before closing

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def attached(self) -> bool:
        """A transport exists (possibly closing): close() has something to do."""
        return self._transport is not None

    async def open(self, port: str, *, baudrate: int, rtscts: bool) -> None:
        """Raises PortUnavailable (a ChannelClosed) if the path cannot be opened or another process holds it."""
        self.port = port
        check_port(port)
        self._generation += 1
        generation = self._generation
        try:
            protocol = _Protocol(functools.partial(self._data_received, generation),
                                 functools.partial(self._connection_lost, generation))
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                asyncio.get_running_loop(), lambda: protocol, port, baudrate=baudrate, rtscts=rtscts, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise explain_open_error(port, exc) from exc
        self._closing = False
        self._closed = asyncio.Event()
        self._transport = transport
        self._excl_fd = _set_tiocexcl(transport)

    async def close(self) -> None:
        """Close the transport and wait (up to CLOSE_TIMEOUT) until it reports the loss; on_lost gets deliberate."""
        transport = self._transport
        if transport is None:
            return
        self._closing = True
        if self._excl_fd is not None:
            try:
                fcntl.ioctl(self._excl_fd, termios.TIOCNXCL)
            except OSError:
                pass                          # the device is gone: its tty goes with our fd
            self._excl_fd = None
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
        self._excl_fd = None
        try:
            self._on_lost(exc, self._closing)
        finally:
            self._closed.set()


def _set_tiocexcl(transport) -> int | None:
    """TIOCEXCL on a real tty (see the module doc for why not a pty). Returns the fd it was set on."""
    port = getattr(transport, "serial", None)
    fd = getattr(port, "fd", None)
    if fd is None:
        return None
    try:
        if os.major(os.fstat(fd).st_rdev) in PTY_SLAVE_MAJORS:
            return None
        fcntl.ioctl(fd, termios.TIOCEXCL)
    except OSError:
        return None                            # not fatal: flock still keeps modemd-aware programs off
    return fd
