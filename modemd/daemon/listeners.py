"""Where the daemon listens: the HTTP API on TCP (and a unix socket if configured) and the admin socket, all served
by one CappedRunner (one connection cap for all of them)."""

from __future__ import annotations

import grp
import logging
import os
from pathlib import Path

from aiohttp import web

from ..api.connections import CappedRunner, connection_cap, raise_file_limit
from ..config.model import ServerConfig

log = logging.getLogger(__name__)

# The admin socket: root, user modemd and members of group modemd use the API through it without a token
# (api/peer_auth.py). Under systemd it is in RuntimeDirectory= (/run/modemd), else in the state directory.
ADMIN_SOCKET = "admin.sock"
# sockaddr_un.sun_path holds 108 bytes with the terminating NUL (unix(7)).
MAX_SOCKET_PATH = 107


async def start_listeners(app: web.Application, server: ServerConfig, admin_socket: Path | None) -> web.AppRunner:
    files = raise_file_limit()
    cap = connection_cap(server.max_connections, files)
    if cap < server.max_connections:
        log.warning("server.max_connections %d is above what %d open files allow; holding %d at once",
                    server.max_connections, files, cap)
    runner = CappedRunner(app, cap=cap, access_log=None, keepalive_timeout=server.idle_timeout)
    await runner.setup()
    await web.TCPSite(runner, server.listen_host, server.listen_port).start()
    log.info("HTTP API listening on http://%s:%d", server.listen_host, server.listen_port)
    if server.unix_socket:
        server.unix_socket.parent.mkdir(parents=True, exist_ok=True)
        await web.UnixSite(runner, str(server.unix_socket)).start()
        os.chmod(server.unix_socket, 0o660)   # the group of local apps allowed to send, nobody else
        log.info("HTTP API listening on unix socket %s", server.unix_socket)
    if admin_socket:
        await web.UnixSite(runner, str(admin_socket)).start()
        os.chmod(admin_socket, 0o660)    # root, our user and our group; api.peer_auth checks again
        log.info("admin socket %s (root and group %s, no token)", admin_socket, _group_name())
    return runner


def admin_socket_path(state_dir: Path) -> Path | None:
    runtime = os.environ.get("RUNTIME_DIRECTORY")
    return socket_path((Path(runtime.split(":")[0]) if runtime else state_dir) / ADMIN_SOCKET)


def socket_path(path: Path) -> Path | None:
    """path, or None (with a warning) when it is too long to bind a unix socket to."""
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    log.warning("%s is too long for a unix socket (%d bytes at most); not creating it", path, MAX_SOCKET_PATH)
    return None


def _group_name() -> str:
    try:
        return grp.getgrgid(os.getegid()).gr_name
    except KeyError:
        return str(os.getegid())
