"""Connections a client can hold (issue 11, item 7): a cap below the file limit answers 503 instead of letting the
file table fill, idle connections are closed after server.idle_timeout, the condition is logged once."""

from __future__ import annotations

import socket
from contextlib import ExitStack

from kit import http_get, running_daemon, wait_for

CAP = 16


def test_idle_connections_cannot_take_the_daemon_down(tmp_path, free_port):
    config = f"simulate = true\n[server]\nmax_connections = {CAP}\nidle_timeout = 1.0\n"
    with running_daemon(tmp_path, port=free_port, config=config) as daemon, ExitStack() as held:
        # Connect and say nothing, as a slowloris client does.
        idle = [held.enter_context(socket.create_connection(("127.0.0.1", free_port), timeout=5))
                for _ in range(CAP + 10)]
        # The connections past the cap were answered 503 and closed at once; the others are held.
        answers = [_read_now(s) for s in idle[CAP:]]
        assert all(a.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in a for a in answers), answers[:2]
        # Idle ones are closed by the daemon after idle_timeout, and then it answers again.
        wait_for(lambda: http_get(daemon.url + "/healthz")[0] == 200, timeout=15)
        assert all(s.recv(1) == b"" for s in idle[:CAP])
        log = daemon.output()
        assert log.count("the most allowed (server.max_connections)") == 1, log
        assert "Too many open files" not in log


def _read_now(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
