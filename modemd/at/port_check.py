"""Why a serial port cannot be opened, told apart because each reason asks for a different fix: unplugged (the
path or the device behind it is gone), held by another process (which one: /proc/locks, /proc/PID/fd, UUCP lock
files), permissions (which group to join), or not a serial port at all. serial.SerialLink.open() asks before and
after it opens; the exclusive locks themselves are taken there (see its docstring).
"""

from __future__ import annotations

import errno
import grp
import os
import stat
import termios

from ..domain.errors import ChannelClosed

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
