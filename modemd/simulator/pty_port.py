"""A pseudo-terminal that looks like a modem's /dev/ttyUSBn, with a stable symlink (like /dev/serial/by-id/...).

Why we keep our own slave fd open: on Linux, once no process holds the slave, reading the master fails with EIO
and the master polls readable forever; a client that closes and reopens the port would otherwise make the event
loop spin or the simulator think the device is gone. Holding the slave also keeps the pts number allocated, which
`close()` uses so that a re-created port gets a *new* number, as a replugged USB modem gets a new ttyUSB.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import tty
from typing import Callable

log = logging.getLogger(__name__)
MAX_PENDING = 1 << 20        # bytes kept while nobody reads the port; a real USB-serial FIFO just drops


class PtyPort:
    def __init__(self, on_data: Callable[[bytes], None], *, link: str | None = None):
        self.on_data = on_data
        self.link = link
        self.name: str | None = None            # /dev/pts/N
        self._master: int | None = None
        self._slave: int | None = None
        self._retired: list[int] = []            # slave fds of closed ports, holding their pts numbers
        self._pending = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        return self._master is not None

    @property
    def path(self) -> str | None:
        return self.link or self.name

    def open(self) -> str:
        """Create a new pty, make it raw, point the link at it and start reading. Returns the pts path."""
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(slave)                         # no line discipline: CR stays CR, ^Z and ESC pass through
        os.set_blocking(master, False)
        self._master, self._slave, self.name = master, slave, os.ttyname(slave)
        self._point_link()
        self._loop.add_reader(master, self._on_readable)
        self._release_retired()
        log.debug("pty %s open (link %s)", self.name, self.link)
        return self.name

    def _point_link(self) -> None:
        """Atomic re-pointing (symlink to a temp name, then rename), so a client never sees a missing link."""
        if not self.link:
            return
        tmp = f"{self.link}.tmp{os.getpid()}"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.name, tmp)
        os.replace(tmp, self.link)

    def _release_retired(self) -> None:
        for fd in self._retired:
            os.close(fd)
        self._retired.clear()

    def close(self, *, keep_number: bool = False) -> None:
        """Unplug: the master goes (clients get EOF/EIO), the link is removed. keep_number holds the old pts
        number until the next open() so the new port gets a different one."""
        if self._master is None:
            return
        self._loop.remove_reader(self._master)
        self._loop.remove_writer(self._master)
        os.close(self._master)
        self._master = None
        self._pending.clear()
        if keep_number:
            self._retired.append(self._slave)
        else:
            os.close(self._slave)
        self._slave = None
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)

    def shutdown(self) -> None:
        self.close()
        self._release_retired()

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:            # no slave open anywhere (cannot happen while we hold ours)
                return
            raise
        if data:
            self.on_data(data)

    def write(self, data: bytes) -> None:
        """Write without blocking the loop; what the pty buffer cannot take waits for writability."""
        if self._master is None:
            return                                # unplugged: bytes go nowhere, like on a real cable pull
        if len(self._pending) + len(data) > MAX_PENDING:
            log.debug("pty %s: nobody reads, dropping %d bytes", self.name, len(data))
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending and self._master is not None:
            try:
                n = os.write(self._master, self._pending)
            except BlockingIOError:
                self._loop.add_writer(self._master, self._flush)
                return
            del self._pending[:n]
        if self._master is not None:
            self._loop.remove_writer(self._master)

    @property
    def write_pending(self) -> int:
        return len(self._pending)
