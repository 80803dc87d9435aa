"""Hot-plug events for serial ports, from inotify: a port appearing, going, or getting its permissions.

Why inotify and not polling: a replugged modem should be ready within two seconds of its port appearing, and a
supervisor backing off to 30 s between reopen attempts cannot promise that; sleeping 100 ms in a loop to look can,
but wakes the daemon ten times a second for an event that comes twice a year. udev creates the nodes and links in
/dev (devtmpfs), /dev/serial/by-id, or wherever a udev rule puts a SYMLINK, and devtmpfs reports them to inotify.

What is watched: the directory of each pattern ("/dev/serial/by-id/*" -> /dev/serial/by-id). A directory that does
not exist yet (by-id before the first USB serial device) is watched through its nearest existing ancestor, and the
watch moves down as the directories appear. Events: IN_CREATE, IN_MOVED_TO (a link re-pointed atomically), IN_DELETE,
IN_MOVED_FROM, IN_ATTRIB (udev sets GROUP/MODE after creating the node: a port may only become openable then).
Events come in bursts (a modem brings 4-5 ports and their links); `on_change` is called once per burst, DEBOUNCE
seconds after the last event.

Where inotify is missing (no libc symbol, a file system without it, the watch limit reached) the watcher says so
(`available` false) and the caller falls back to a slow periodic rescan.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fnmatch
import logging
import os
import struct
from typing import Callable

log = logging.getLogger(__name__)

# A USB modem's ports and their by-id links come within ~50-100 ms of each other (udev processes them in parallel);
# 150 ms after the last event sees the whole burst and still leaves most of the 2 s budget to the bring-up.
DEBOUNCE = 0.15

IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x4, 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_IGNORED, IN_ISDIR = 0x400, 0x800, 0x8000, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
WATCH_MASK = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
_EVENT = struct.Struct("iIII")        # struct inotify_event: wd, mask, cookie, len; then len bytes of name


def _libc():
    try:
        # CDLL(None): the symbols already loaded into this process, libc's among them (find_library would run
        # ldconfig in a child process just to name it).
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch    # noqa: B018 - AttributeError if libc has no inotify
        return libc
    except (OSError, AttributeError):
        return None


def watch_target(pattern: str) -> tuple[str, str]:
    """(the directory to watch, the name pattern inside it): the pattern's directory if it exists, else its nearest
    existing ancestor, where the next missing directory's name is what to look out for."""
    directory, name = os.path.split(os.path.abspath(pattern))
    while directory != "/" and not os.path.isdir(directory):
        directory, name = os.path.split(directory)
    return directory, name


class HotplugWatcher:
    """inotify on the directories of `patterns`; on_change() once per burst of matching events."""

    def __init__(self, patterns: list[str] | tuple[str, ...], on_change: Callable[[], None], *,
                 debounce: float = DEBOUNCE):
        self.patterns = tuple(dict.fromkeys(patterns))
        self.on_change = on_change
        self.debounce = debounce
        self.available = False
        self._libc = _libc()
        self._fd: int | None = None
        self._watches: dict[int, tuple[str, set[str]]] = {}    # wd -> (directory, name patterns in it)
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Begin watching; False (and `available` false) when inotify cannot be used here."""
        self._loop = asyncio.get_running_loop()
        if self._libc is None:
            log.warning("hot-plug: inotify is not available (libc without it); rescanning ports periodically")
            return False
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.warning("hot-plug: inotify_init1 failed: %s; rescanning ports periodically",
                        os.strerror(ctypes.get_errno()))
            return False
        self._fd = fd
        self.available = self._add_watches()
        self._loop.add_reader(fd, self._readable)
        return self.available

    def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        self._watches.clear()

    @property
    def directories(self) -> list[str]:
        return sorted(directory for directory, _ in self._watches.values())

    def _add_watches(self) -> bool:
        """Watch each pattern's directory (or nearest ancestor); adding an existing watch again returns its wd."""
        ok = True
        for pattern in self.patterns:
            directory, name = watch_target(pattern)
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), WATCH_MASK)
            if wd < 0:
                code = ctypes.get_errno()
                log.warning("hot-plug: cannot watch %s: %s%s", directory, os.strerror(code),
                            " (fs.inotify.max_user_watches reached)" if code == errno.ENOSPC else "")
                ok = False
                continue
            self._watches.setdefault(wd, (directory, set()))[1].add(name)
        return ok

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        relevant, moved = self._parse(data)
        if moved:                  # a directory came or went: watch nearer (or farther) from now on
            self._add_watches()
        if relevant or moved:
            self._schedule()

    def _parse(self, data: bytes) -> tuple[bool, bool]:
        """(an event about a name the patterns care for, a directory came or went)."""
        relevant = moved = False
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size: offset + _EVENT.size + length]
            offset += _EVENT.size + length
            name = os.fsdecode(raw.rstrip(b"\0"))
            if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                if mask & IN_IGNORED:          # the watched directory is gone; its wd with it
                    self._watches.pop(wd, None)
                moved = True
                continue
            _directory, names = self._watches.get(wd, ("", set()))
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in names):
                relevant = True
                moved = moved or bool(mask & IN_ISDIR)
        return relevant, moved

    def _schedule(self) -> None:
        if self._timer:
            self._timer.cancel()
        self._timer = self._loop.call_later(self.debounce, self._fire)

    def _fire(self) -> None:
        self._timer = None
        try:
            self.on_change()
        except Exception:
            log.exception("hot-plug handler failed")
