"""The sd_notify protocol by hand: readiness, status, reload/stop and watchdog datagrams to systemd.

The protocol (sd_notify(3)) is a few lines: one AF_UNIX SOCK_DGRAM datagram per call to the socket named by
$NOTIFY_SOCKET, holding newline-separated KEY=VALUE assignments. A name starting with '@' is an abstract socket
(the '@' stands for the leading NUL byte). With $NOTIFY_SOCKET unset (not under systemd, Type= not notify) every call
is a no-op, so the daemon calls these unconditionally.

The watchdog ping is sent only from a task on the asyncio loop: if the loop is blocked (a synchronous call that
hangs, a busy loop), the task does not run, the pings stop, and systemd kills and restarts the service after
WatchdogSec. A thread would keep pinging a dead daemon and defeat the point.

No I/O happens at import; the only I/O is sendto() on a datagram socket, which does not block on a unix socket
unless the receiver's queue is full (then we give up after SEND_TIMEOUT rather than stall the loop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# A send to PID 1 only blocks when its receive queue is full (a wedged manager); a watchdog ping dropped then is
# better than an event loop frozen behind it. Two seconds is far below any sensible WatchdogSec/2.
SEND_TIMEOUT = 2.0

ENV_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def socket_address(name: str | None) -> str | bytes | None:
    """$NOTIFY_SOCKET -> an address for sendto(): a path, an abstract name (bytes with a leading NUL), or None.

    systemd only ever hands out absolute paths and '@' names (vsock addresses, new in systemd 253, are not used for
    services on the host and are not supported here).
    """
    if not name:
        return None
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    if name.startswith("/"):
        return name
    log.warning("ignoring NOTIFY_SOCKET=%r: neither an absolute path nor an abstract '@' name", name)
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec, as sd_watchdog_enabled(3) recommends), or None.

    None when $WATCHDOG_USEC is unset, not a positive integer, or when $WATCHDOG_PID names another process (the
    variables were inherited by a child of the supervised process).
    """
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", usec)
        return None
    if value <= 0:
        return None
    wd_pid = environ.get("WATCHDOG_PID")
    if wd_pid and wd_pid.strip() != str(os.getpid() if pid is None else pid):
        return None
    return value / 2 / 1_000_000


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd expects in MONOTONIC_USEC= (sd_notify(3), RELOADING=1)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def one_line(text: str) -> str:
    """A STATUS= value must not contain a newline: the next line would be parsed as another assignment."""
    return " ".join(str(text).splitlines())


class Notifier:
    """Sends sd_notify datagrams; every method is a no-op (returning False) when there is no notify socket.

    Build it with `Notifier.from_environment()` in the daemon; tests pass the socket name and interval directly.
    """

    def __init__(self, notify_socket: str | None = None, watchdog_interval: float | None = None):
        self.address = socket_address(notify_socket)
        self.watchdog_interval = watchdog_interval if self.address is not None else None
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *, unset: bool = False) -> "Notifier":
        """Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID.

        unset=True removes them from os.environ afterwards, so processes we spawn do not inherit them and talk to
        systemd in our name (sd_notify's unset_environment; NotifyAccess=main would drop their datagrams anyway).
        """
        env = os.environ if environ is None else environ
        notifier = cls(env.get("NOTIFY_SOCKET"), watchdog_interval(env))
        if unset:
            for var in ENV_VARS:
                os.environ.pop(var, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_enabled(self) -> bool:
        return self.watchdog_interval is not None

    def notify(self, *assignments: str) -> bool:
        """Send one datagram of KEY=VALUE lines; True if it was sent. Never raises: systemd being away is not
        the daemon's failure (the warning is logged once)."""
        if self.address is None:
            return False
        payload = "\n".join(assignments).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.settimeout(SEND_TIMEOUT)
            self._sock.sendto(payload, self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("sd_notify to %r failed: %s", self.address, exc)
                self._warned = True
            return False
        log.debug("sd_notify %s", payload.replace(b"\n", b" ").decode(errors="replace"))
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1: start-up finished (API listening, modems brought up or given up on with a logged reason)."""
        return self.notify("READY=1", *self._status(status))

    def status(self, text: str) -> bool:
        """STATUS=<text>: the one line `systemctl status modemd` shows, e.g. "2 modems ready, 14 queued"."""
        return self.notify(f"STATUS={one_line(text)}")

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: shutdown began (on SIGTERM), before the slow part (waiting for an AT exchange in flight)."""
        return self.notify("STOPPING=1", *self._status(status))

    def reloading(self, status: str | None = None) -> bool:
        """RELOADING=1 with MONOTONIC_USEC= (required by systemd >= 253 for Type=notify-reload; harmless before)."""
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", *self._status(status))

    def reloaded(self, status: str | None = None) -> bool:
        """READY=1 after a reload, whether the new configuration was applied or rejected (the old one stays)."""
        return self.ready(status)

    def extend_timeout(self, seconds: float) -> bool:
        """EXTEND_TIMEOUT_USEC=: ask for more time in the current start/stop phase (e.g. a slow modem bring-up)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def watchdog(self) -> bool:
        """WATCHDOG=1: one keep-alive ping. Normally sent by run_watchdog(), not by hand."""
        return self.notify("WATCHDOG=1")

    async def run_watchdog(self, healthy: Callable[[], bool] | None = None) -> None:
        """Ping WATCHDOG=1 now and then every WatchdogSec/2, from this event loop, until cancelled.

        Returns at once when the watchdog is not enabled for this process. `healthy`, if given, is called before
        each ping; when it returns False (or raises) the ping is skipped, so a daemon that stays unhealthy for
        WatchdogSec is restarted. Keep it cheap and about the process itself (its workers are alive), not about
        the outside world: an unplugged modem must not get the service restarted.
        """
        interval = self.watchdog_interval
        if interval is None:
            return
        log.debug("watchdog: pinging every %.3f s", interval)
        was_healthy = True
        while True:
            is_healthy = self._check(healthy, log_errors=was_healthy)
            if is_healthy:
                self.watchdog()
            elif was_healthy:
                log.warning("watchdog: health check failed; withholding pings (systemd restarts us if this lasts)")
            was_healthy = is_healthy
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @staticmethod
    def _check(healthy: Callable[[], bool] | None, log_errors: bool) -> bool:
        if healthy is None:
            return True
        try:
            return bool(healthy())
        except Exception:
            if log_errors:    # once per unhealthy spell, not every WatchdogSec/2
                log.exception("watchdog: health check raised; treating as unhealthy")
            return False

    @staticmethod
    def _status(status: str | None) -> tuple[str, ...]:
        return () if status is None else (f"STATUS={one_line(status)}",)
