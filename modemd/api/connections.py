"""How many HTTP connections the daemon holds at once, and for how long an idle one stays.

Measured before this existed: 1,100 idle connections against the default soft limit of 1,024 open files, and the
daemon stopped answering /healthz and logged "Too many open files" 205,233 times in 49 s; it recovered only when
the clients closed. Now:
- the soft RLIMIT_NOFILE is raised to the hard limit at start (systemd's default soft limit is 1,024, its hard one
  524,288; the unit sets LimitNOFILE= as well), leaving room for the database, the modems and the connections;
- past `max_connections`, a new connection gets "503 Service Unavailable, Retry-After" and is closed at once: the
  file table never fills, the connections already open keep working, and the condition is logged once a minute;
- an idle keep-alive connection is closed after `idle_timeout` seconds (aiohttp's keepalive_timeout).
"""

from __future__ import annotations

import asyncio
import logging
import resource

from aiohttp import web

from ..log.setup import Throttle

log = logging.getLogger("modemd.api")

# What the daemon needs besides connections: the database (3-4 files), its WAL, the modems' ports, journald's
# socket, the admin and API sockets, webhook clients. Connections are capped this far below the file limit.
FILES_IN_RESERVE = 128
_BODY = b'{"type":"about:blank","title":"Too many connections","status":503,"retry_after":5}'
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\n"
           b"Content-Type: application/problem+json\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY))


def raise_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (select() is not used, so a high limit costs nothing). Returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(wanted: int, file_limit: int) -> int:
    return max(1, min(wanted, file_limit - FILES_IN_RESERVE))


class _Refuse(asyncio.Protocol):
    """Says 503 and closes: the socket is given back at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(REFUSAL)
        transport.close()


class _Counted(asyncio.Protocol):
    """aiohttp's handler for one connection, counted from the moment it is made until the connection is lost.
    (aiohttp's own count grows only in connection_made, which asyncio calls after it has accepted a whole burst of
    connections: a burst would pass a cap read from it.)"""

    def __init__(self, inner: asyncio.Protocol, gate: "_CappedFactory"):
        self._inner, self._gate = inner, gate

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.live -= 1
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class _CappedFactory:
    def __init__(self, server: web.Server, cap: int, throttle: Throttle):
        self._server, self._cap, self._throttle = server, cap, throttle
        self.live = 0

    def __call__(self) -> asyncio.Protocol:
        if self.live < self._cap:
            self.live += 1
            return _Counted(self._server(), self)
        refused = self._throttle.due()
        if refused is not None:
            log.warning("%d connections open, the most allowed (server.max_connections); new ones get 503 "
                        "(%d refused since the last report)", self._cap, refused)
        return _Refuse()


class CappedRunner(web.AppRunner):
    """An AppRunner whose sites accept at most `cap` connections at once, across all of them."""

    def __init__(self, app: web.Application, *, cap: int, **kwargs):
        super().__init__(app, **kwargs)
        self._cap, self._throttle = cap, Throttle(60.0)
        self._factory: _CappedFactory | None = None

    @property
    def server(self):
        inner = super().server
        if inner is None:
            return None
        if self._factory is None:            # one count for every site (TCP, unix, admin)
            self._factory = _CappedFactory(inner, self._cap, self._throttle)
        return self._factory
