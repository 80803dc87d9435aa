"""A small synchronous client for the daemon's HTTP API, over its unix socket or loopback TCP.

Used by the CLI commands that talk to a running daemon (`modemd status`, `send`, `otp`, `queue`, `inbox`). Where to
connect: --url or $MODEMD_URL; else the admin socket (/run/modemd/admin.sock of the service, else admin.sock in the
state directory of a daemon run by hand), where root, user modemd and group modemd need no token; else the config
file's server.unix_socket / server.listen. The token, for those: --token-file, $MODEMD_TOKEN, the config's
auth.tokens, the token modemd generated in its state directory.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..config.model import ServerConfig
from ..config.tokens import TOKEN_FILE
from ..config.paths import default_state_dir


class ApiUnavailable(Exception):
    """The daemon could not be reached at all."""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict
    via: str = ""       # where it went and how it authenticated (ApiClient.how), for error messages

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
    def __init__(self, url: str, token: str | None, timeout: float = 15.0, tried: list[str] | None = None):
        """url: 'http://127.0.0.1:8765' or 'unix:/run/modemd/api.sock'. tried: how url and token were found."""
        self.url, self.token, self.timeout = url, token, timeout
        self.tried = tried or []

    def how(self) -> str:
        """For an error message: where it connected and what it tried for authentication."""
        return f"{self.url} (tried: {'; '.join(self.tried)})" if self.tried else self.url

    def _connection(self) -> http.client.HTTPConnection:
        if self.url.startswith("unix:"):
            return _UnixConnection(self.url[len("unix:"):], self.timeout)
        parts = urlsplit(self.url)
        return http.client.HTTPConnection(parts.hostname or ServerConfig.listen_host, parts.port or ServerConfig.listen_port, timeout=self.timeout)

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
        return ApiResponse(response.status, parsed if isinstance(parsed, dict) else {"data": parsed}, self.how())


# Where the service's admin socket is (systemd's RuntimeDirectory=modemd); a daemon run by hand keeps it in its
# state directory.
SERVICE_ADMIN_SOCKET = Path("/run/modemd/admin.sock")
ADMIN_SOCKET = "admin.sock"


def resolve(url: str | None, token: str | None, config) -> ApiClient:
    """Where the daemon listens and how to authenticate; see the module docstring for the order. The client's
    `tried` says what was looked at, for an error message."""
    url = url or os.environ.get("MODEMD_URL")
    tried: list[str] = []
    if not url:
        admin = _admin_socket(config, tried)
        if admin:
            return ApiClient(f"unix:{admin}", None, tried=tried)
    if not url and config is not None:
        server = config.server
        if server.unix_socket and Path(server.unix_socket).exists():
            url = f"unix:{server.unix_socket}"
        else:
            url = f"http://{server.listen_host}:{server.listen_port}"
    url = url or f"http://{ServerConfig.listen_host}:{ServerConfig.listen_port}"
    if token:
        tried.append("the token from --token-file")
    token = token or _environment_token(tried) or _token_from(config, tried)
    return ApiClient(url, token, tried=tried)


def _admin_socket(config, tried: list[str]) -> Path | None:
    """The first admin socket this user can connect to: the service's, then the one of a daemon run by hand."""
    state_dir = (config.server.state_dir if config is not None else None) or default_state_dir()
    for path in (SERVICE_ADMIN_SOCKET, Path(state_dir) / ADMIN_SOCKET):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2.0)
                sock.connect(str(path))
            return path
        except FileNotFoundError:
            tried.append(f"admin socket {path}: not there")
        except PermissionError:
            tried.append(f"admin socket {path}: permission denied (root and group modemd only)")
        except OSError as exc:
            tried.append(f"admin socket {path}: {exc.strerror or exc}")
    return None


def _environment_token(tried: list[str]) -> str | None:
    token = os.environ.get("MODEMD_TOKEN")
    tried.append("$MODEMD_TOKEN" if token else "$MODEMD_TOKEN: not set")
    return token


def _token_from(config, tried: list[str]) -> str | None:
    if config is not None and config.auth.tokens:
        tried.append(f"the first token of {config.source or 'the config'}")
        return config.auth.tokens[0]
    state_dir = (config.server.state_dir if config is not None else None) or default_state_dir()
    path = Path(state_dir) / TOKEN_FILE
    try:
        token = path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        tried.append(f"token file {path}: {exc.strerror or exc}")
        return None
    tried.append(f"token file {path}")
    return token
