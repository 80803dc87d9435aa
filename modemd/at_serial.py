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

Why an open failed is told apart (PortUnavailable.reason), because each asks for a different fix: unplugged, held by
another process, permissions, or not a serial port at all.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import grp
import logging
import os
import stat
import termios
from typing import Callable

import serial
import serial_asyncio_fast

from .errors import ChannelClosed
from .log import TRACE

CLOSE_TIMEOUT = 2.0
# UNIX98 pty slaves (/dev/pts/N) have majors 136-143 (Documentation/admin-guide/devices.txt).
PTY_SLAVE_MAJORS = range(136, 144)
UUCP_LOCK_DIRS = ("/run/lock", "/var/lock")

# PortUnavailable.reason values
MISSING, IN_USE, DENIED, NOT_A_TTY, OTHER = "missing", "in use", "permission denied", "not a serial port", "error"
NO_PATH = "no such device: the path does not exist (unplugged?)"


class PortUnavailable(ChannelClosed):
    """open() failed. str() is the reason for a person, without the port (callers name it); `reason` is one of
    MISSING, IN_USE, DENIED, NOT_A_TTY, OTHER, so a caller can tell a changed reason from a repeated one."""

    def __init__(self, port: str, reason: str, detail: str):
        super().__init__(detail)
        self.port, self.reason = port, reason


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
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                asyncio.get_running_loop(), lambda: _Protocol(self, generation), port,
                baudrate=baudrate, rtscts=rtscts, exclusive=True)
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


# ---- why a port cannot be opened ------------------------------------------------------------------------------------

def check_port(port: str) -> None:
    """Before opening: a missing path, a non-device, a UUCP lock file held by a live process -> PortUnavailable.
    pyserial URLs (loop://, rfc2217://) are left to pyserial."""
    if "://" in port:
        return
    try:
        st = os.stat(port)                    # follows the symlink: a by-id link to an unplugged modem dangles
    except FileNotFoundError:
        raise PortUnavailable(port, MISSING, NO_PATH) from None
    except PermissionError:
        raise PortUnavailable(port, DENIED, "permission denied: cannot look up the path") from None
    except OSError as exc:
        raise PortUnavailable(port, OTHER, exc.strerror or str(exc)) from None
    if not stat.S_ISCHR(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a regular file" if stat.S_ISREG(st.st_mode) \
            else "not a device"
        raise PortUnavailable(port, NOT_A_TTY, f"not a serial port: {kind}")
    holder = _uucp_lock_holder(port)
    if holder:
        raise PortUnavailable(port, IN_USE, f"in use by another process: {holder}")


def explain_open_error(port: str, exc: BaseException) -> PortUnavailable:
    """pyserial's exception -> the reason a person can act on. pyserial puts the errno of a failed open() or
    flock() on the exception; a failed tcgetattr (a device that is not a tty) only on the termios.error it wraps."""
    code = getattr(exc, "errno", None)
    context = exc.__context__
    if code is None and isinstance(context, termios.error) and context.args:
        code = context.args[0]
    if code in (errno.EAGAIN, errno.EWOULDBLOCK):          # flock: another open file holds the lock
        holder = _flock_holder(port) or "a process holds a lock on the port"
        return PortUnavailable(port, IN_USE, f"in use by another process: {holder}")
    if code == errno.EBUSY:                                 # TIOCEXCL: ModemManager, or another modemd
        # A modemd holder also has the flock, which /proc/locks shows to anyone; /proc/PID/fd only to root.
        holder = _flock_holder(port) or _fd_holder(port) or "a process"
        return PortUnavailable(port, IN_USE, f"in use by another process: {holder} holds it exclusively (TIOCEXCL)")
    if code in (errno.EACCES, errno.EPERM):
        return PortUnavailable(port, DENIED, _permission_text(port))
    if code == errno.ENOENT:                                # unplugged since check_port() looked
        return PortUnavailable(port, MISSING, NO_PATH)
    if code in (errno.ENODEV, errno.ENXIO):                 # a device node with nothing behind it
        return PortUnavailable(port, MISSING, "no such device: the device node has nothing behind it (unplugged?)")
    if code == errno.ENOTTY:                                # a character device, but not a terminal (/dev/null)
        return PortUnavailable(port, NOT_A_TTY, "not a serial port: a device that is not a tty")
    return PortUnavailable(port, OTHER, str(exc))


def _permission_text(port: str) -> str:
    # udev/70-modemd.rules gives known modems' AT ports group modemd; other ports stay root:dialout, which the
    # service reaches with the systemd/modemd-dialout.conf drop-in.
    service = ("the service gets ports of group modemd from udev/70-modemd.rules, or of group dialout with "
               "systemd/modemd-dialout.conf")
    try:
        gid = os.stat(port).st_gid
        group = grp.getgrgid(gid).gr_name
    except (OSError, KeyError):
        gid, group = -1, "dialout"
    if gid == 0:
        return f"permission denied: the port belongs to root only; a udev rule must hand it to a group ({service})"
    return (f"permission denied: the port belongs to group {group}; run as a member of it (sudo usermod -aG "
            f"{group} $USER, then log in again); {service}")


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


def _who(pid: int) -> str:
    if pid == os.getpid():
        return f"pid {pid}, which is this process itself (is the port configured twice?)"
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f"pid {pid} {f.read().strip()}"
    except OSError:
        return f"pid {pid}"


def _flock_holder(port: str) -> str | None:
    """The pid holding a lock on the port, from /proc/locks ("1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<ino> ...",
    maj:min of the file system the inode is on, in hex). One small file; only read after a refused open."""
    try:
        st = os.stat(port)
        wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and fields[1] != "->" and fields[5] == wanted and fields[4].isdigit() \
                        and int(fields[4]) > 0:           # 0/-1: a holder in another pid namespace
                    return _who(int(fields[4]))
    except OSError:
        pass
    return None


def _fd_holder(port: str) -> str | None:
    """Like fuser: a process with the port open. Only /proc entries we may read (all of them as root); only run
    after a refused open, at most once per reopen attempt."""
    try:
        target = os.path.realpath(port)
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return _who(pid)
            except OSError:
                continue
    return None


def _uucp_lock_holder(port: str) -> str | None:
    """A live process named in a UUCP lock file (LCK..<device name>, the pid as ASCII, or 4 binary bytes in old
    ones) for the path as given or as resolved (minicom names the lock after the name it was given). Stale files
    (no such process) are ignored, as those tools do themselves."""
    names = {os.path.basename(port), os.path.basename(os.path.realpath(port))}
    for directory in UUCP_LOCK_DIRS:
        for name in names:
            path = os.path.join(directory, f"LCK..{name}")
            try:
                with open(path, "rb") as f:
                    raw = f.read(64)
            except OSError:
                continue
            text = raw.decode("ascii", "replace").strip()
            pid = int(text) if text.isdigit() else int.from_bytes(raw, "little") if len(raw) == 4 else 0
            if pid <= 0 or pid == os.getpid():
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                pass                             # alive, someone else's
            return f"{_who(pid)}, UUCP lock file {path}"
    return None
