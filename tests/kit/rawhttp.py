"""HTTP to the daemon byte for byte: urllib and aiohttp's client refuse the bytes hostile-input tests send."""

from __future__ import annotations

import json
import socket
import time

from .processes import TOKEN


def raw_request(method: str, path: str, body: bytes = b"", headers: dict[str, bytes] | None = None,
                auth: bytes | None = TOKEN.encode()) -> bytes:
    """One HTTP/1.1 request (Connection: close), its header values as given, bytes and all."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: modemd", b"Connection: close"]
    fields = {"Content-Type": b"application/json", **(headers or {})}
    if auth is not None:
        fields.setdefault("Authorization", b"Bearer " + auth)
    lines += [name.encode() + b": " + value for name, value in fields.items()]
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"raw": body[:200]}


def exchange(port: int, request: bytes) -> tuple[int, dict]:
    """Send `request` to 127.0.0.1:`port`; (status, JSON body or {"raw": the first bytes})."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return _response(sock)


def beside_healthz(port: int, request: bytes) -> tuple[int, dict, float]:
    """Send `request`, then at once GET /healthz on a second connection, which must answer 200 meanwhile: the
    daemon's loop serves other clients while it handles `request`. Returns the request's (status, body) and how
    long /healthz took (at most how long the loop was held up; bench/bench_hostile.py reports it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        started = time.monotonic()
        health = exchange(port, raw_request("GET", "/healthz", auth=None))
        took = time.monotonic() - started
        assert health[0] == 200, health
        status, body = _response(sock)
    return status, body, took
