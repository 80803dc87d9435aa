"""Logging helpers: a TRACE level (5) for raw serial bytes, an adapter that prefixes the modem name, the journald
set-up (native fields via journal.py, else "<N>" priority prefixes on stderr), and a throttle for repeating errors."""

from __future__ import annotations

import logging
import time

from .journal import JournalHandler, journal_priority, journal_socket_usable

# Below DEBUG: raw serial traffic is too chatty for debug logs but is what one needs for a bad modem.
TRACE = 5
logging.addLevelName(TRACE, "TRACE")


class ModemLogAdapter(logging.LoggerAdapter):
    """Prefixes every message with "[<modem name>] " and puts the name in the record as `modem`."""

    def __init__(self, logger: logging.Logger, name: str):
        super().__init__(logger, {"modem": name})
        # The prefix becomes part of the %-format string, so a '%' in a configured name must not reach it.
        self.prefix = "[" + name.replace("%", "_") + "] "

    def process(self, msg, kwargs):
        kwargs.setdefault("extra", self.extra)
        return self.prefix + str(msg), kwargs

    def trace(self, msg, *args, **kwargs) -> None:
        self.log(TRACE, msg, *args, **kwargs)


class JournalFormatter(logging.Formatter):
    """'<6>modemd.services.outbox.worker: message ... sent' - journald adds the time, the unit and the PID itself,
    and reads "<N>" at the start of a stderr line as its syslog priority (sd-daemon(3)), so `journalctl -p warning`
    works."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = journal_priority(record.levelno)
        text = super().format(record)
        # Every line of a multi-line record (a traceback) carries the prefix, or journald files it as info.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def under_journald() -> bool:
    """systemd sets $JOURNAL_STREAM to the device:inode of the stream it connected to stderr (systemd.exec(5))."""
    import os
    import sys
    stream = os.environ.get("JOURNAL_STREAM", "")
    if not stream or ":" not in stream:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    device, _, inode = stream.partition(":")
    return device == str(st.st_dev) and inode == str(st.st_ino)


def configure_logging(level: str) -> None:
    """Under systemd (stderr is the journal): journald's native socket with fields, else stderr with priority
    prefixes. Elsewhere: readable timestamped lines on stderr."""
    import sys
    numeric = TRACE if level == "trace" else getattr(logging, level.upper())
    handler: logging.Handler = logging.StreamHandler(sys.stderr)
    if under_journald():
        handler.setFormatter(JournalFormatter())
        if journal_socket_usable():            # the same lines, with fields (journal.py); stderr if it refuses
            native = JournalHandler(fallback=handler)
            native.setFormatter(logging.Formatter("%(name)s: %(message)s"))
            handler = native
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # aiohttp's access log would print client addresses and paths with ids; our own lines say what matters.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Any client can make these log at will (a malformed request: aiohttp.server logs each with a traceback; a
    # full file table: asyncio logs every failed accept). One line a minute per kind, with the count, not a flood.
    for name in ("aiohttp.server", "asyncio"):
        logging.getLogger(name).addFilter(FloodFilter(60.0))


class FloodFilter(logging.Filter):
    """Lets a logger's WARNING-and-above records through at most once per `every` seconds per message template,
    the traceback dropped and the number held back since said. Lower levels pass untouched."""

    def __init__(self, every: float):
        super().__init__()
        self.every = every
        self._throttles: dict[str, Throttle] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        throttle = self._throttles.setdefault(str(record.msg)[:200], Throttle(self.every))
        count = throttle.due()
        if count is None:
            return False
        record.exc_info = record.exc_text = None
        if count > 1:
            record.msg = f"{record.msg} ({count - 1} more like it in the last {self.every:.0f} s, not shown)"
        return True


class Throttle:
    """For a failure that repeats many times a second (a full disk fails every request): report it at most once
    per `every` seconds, saying how many times it happened since the last report."""

    def __init__(self, every: float):
        self.every = every
        self.last = float("-inf")
        self.count = 0

    def due(self) -> int | None:
        """Count one occurrence. Returns how many there were since the last report if a report is due now."""
        self.count += 1
        now = time.monotonic()
        if now - self.last < self.every:
            return None
        count, self.count, self.last = self.count, 0, now
        return count
