"""Connections a client can hold (issue 11, item 7): a cap below the file limit answers 503 instead of letting the
file table fill, idle connections are closed after server.idle_timeout, the condition is logged once."""

from __future__ import annotations

import os
import socket

from conftest import DaemonProcess, http_get, wait_for

CAP = 16


def test_idle_connections_cannot_take_the_daemon_down(tmp_path, free_port):
    config = tmp_path / "modemd.toml"
    config.write_text(f"simulate = true\n[server]\nmax_connections = {CAP}\nidle_timeout = 1.0\n")
    os.chmod(config, 0o600)
    daemon = DaemonProcess(tmp_path, free_port, "--config", str(config))
    idle = []
    try:
        wait_for(daemon.ready, timeout=20)
        for _ in range(CAP + 10):                      # connect and say nothing, as a slowloris client does
            sock = socket.create_connection(("127.0.0.1", free_port), timeout=5)
            idle.append(sock)
        # The connections past the cap were answered 503 and closed at once; the others are held.
        answers = [_read_now(s) for s in idle[CAP:]]
        assert all(a.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in a for a in answers), answers[:2]
        # Idle ones are closed by the daemon after idle_timeout, and then it answers again.
        wait_for(lambda: http_get(daemon.url + "/healthz")[0] == 200, timeout=15)
        assert all(s.recv(1) == b"" for s in idle[:CAP])
        log = daemon.output()
        assert log.count("the most allowed (server.max_connections)") == 1, log
        assert "Too many open files" not in log
    finally:
        for sock in idle:
            sock.close()
        daemon.terminate()


def _read_now(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
