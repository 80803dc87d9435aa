"""One daemon per state directory: a second `modemd run` on the same directory stops before it touches anything.

Without it, a second daemon (an admin trying `modemd run --simulate` next to the service, a unit started twice)
got as far as replacing the first one's simulated-modem link and socket files before its HTTP bind failed. The
lock is flock(2) on a file in the state directory: the kernel drops it when the holder dies, so a crash leaves no
stale lock to clean up.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "modemd.lock"


class StateDirBusy(OSError):
    """Another modemd holds this state directory."""


class StateLock:
    def __init__(self, state_dir: Path):
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Raises StateDirBusy naming the holder's pid (as it wrote it) when another process has the lock."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateDirBusy(f"another modemd (pid {holder}) is running with the state directory "
                               f"{self.path.parent}; stop it first, or give this one its own --state-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)      # closing drops the flock; the file stays (removing it would race a new holder)
            self._fd = None
