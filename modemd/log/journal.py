"""Log records to journald's native socket, with fields an admin can filter on.

Under systemd, stderr already reaches the journal (setup.JournalFormatter's "<N>" prefixes give it priorities). The
native protocol (systemd.journal-fields(7), "Native Journal Protocol" in systemd's docs) adds fields, so that

    journalctl -u modemd MODEMD_MODEM=sim0        one modem's lines
    journalctl -u modemd MODEMD_LOGGER=modemd.services.outbox.worker

work, and CODE_FILE/CODE_LINE/CODE_FUNC say where a line came from. Each record is one datagram of KEY=value lines;
a value with a newline (a traceback) is sent as KEY, newline, its length as 64-bit little-endian, the bytes, newline.
If the socket refuses a record (journald restarting, a record too large for one datagram), that record goes to
stderr in the prefixed form instead: a line is never lost for the sake of its fields.
"""

from __future__ import annotations

import logging
import os
import socket
import struct

SOCKET_PATH = "/run/systemd/journal/socket"
IDENTIFIER = "modemd"


def journal_priority(levelno: int) -> int:
    """The syslog priority (sd-daemon(3)) of a logging level: what `journalctl -p warning` filters on."""
    for floor, priority in ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6)):
        if levelno >= floor:
            return priority
    return 7                                   # DEBUG and TRACE


def encode_field(key: str, value: str) -> bytes:
    data = value.encode("utf-8", "replace")
    if b"\n" in data:
        return key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key.encode() + b"=" + data + b"\n"


class JournalHandler(logging.Handler):
    def __init__(self, path: str | None = None, fallback: logging.Handler | None = None):
        super().__init__()
        self.path = path or SOCKET_PATH
        self.fallback = fallback
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.setblocking(False)        # a stalled journald must not stall the event loop: stderr instead

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = {
                "MESSAGE": self.format(record),
                "PRIORITY": str(journal_priority(record.levelno)),
                "SYSLOG_IDENTIFIER": IDENTIFIER,
                "MODEMD_LOGGER": record.name,
                "CODE_FILE": record.pathname,
                "CODE_LINE": str(record.lineno),
                "CODE_FUNC": record.funcName,
            }
            modem = getattr(record, "modem", None)
            if modem:
                fields["MODEMD_MODEM"] = str(modem)
            self.sock.sendto(b"".join(encode_field(k, v) for k, v in fields.items()), self.path)
        except OSError:
            if self.fallback is not None:
                self.fallback.handle(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def journal_socket_usable(path: str | None = None) -> bool:
    path = path or SOCKET_PATH
    return os.path.exists(path) and os.access(path, os.W_OK)
