"""A small synchronous client for the daemon's HTTP API, over its unix socket or loopback TCP.

Used by the CLI commands that talk to a running daemon (`modemd status`, `send`, `otp`, `queue`, `inbox`). Where to
connect and which token to use come from, in order: flags, the environment ($MODEMD_URL, $MODEMD_TOKEN), the config
file (server.unix_socket / server.listen, auth.tokens), and the token modemd generated in its state directory.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class ApiUnavailable(Exception):
    """The daemon could not be reached at all."""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def problem(self) -> str:
        detail = self.body.get("detail") or ""
        return f"{self.body.get('title', 'HTTP ' + str(self.status))}{': ' + detail if detail else ''}"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class ApiClient:
    def __init__(self, url: str, token: str | None, timeout: float = 15.0):
        """url: 'http://127.0.0.1:8765' or 'unix:/run/modemd/api.sock'."""
        self.url, self.token, self.timeout = url, token, timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self.url.startswith("unix:"):
            return _UnixConnection(self.url[len("unix:"):], self.timeout)
        parts = urlsplit(self.url)
        return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 8765, timeout=self.timeout)

    def call(self, method: str, path: str, body: dict | None = None) -> ApiResponse:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except OSError as exc:
            raise ApiUnavailable(f"cannot reach modemd at {self.url}: {exc}") from None
        finally:
            conn.close()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"title": raw.decode(errors="replace")[:200]}
        return ApiResponse(response.status, parsed if isinstance(parsed, dict) else {"data": parsed})


def resolve(url: str | None, token: str | None, config) -> ApiClient:
    """Where the daemon listens and the token to use; see the module docstring for the order."""
    url = url or os.environ.get("MODEMD_URL")
    if not url and config is not None:
        server = config.server
        if server.unix_socket and Path(server.unix_socket).exists():
            url = f"unix:{server.unix_socket}"
        else:
            url = f"http://{server.listen_host}:{server.listen_port}"
    url = url or "http://127.0.0.1:8765"
    token = token or os.environ.get("MODEMD_TOKEN") or _token_from(config)
    return ApiClient(url, token)


def _token_from(config) -> str | None:
    if config is not None and config.auth.tokens:
        return config.auth.tokens[0]
    from .auth import TOKEN_FILE
    from .paths import default_state_dir
    state_dir = (config.server.state_dir if config is not None else None) or default_state_dir()
    path = Path(state_dir) / TOKEN_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
