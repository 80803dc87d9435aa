"""One webhook receiver for every test: a real HTTP server on 127.0.0.1 in a thread of its own, so it serves the
daemon's process and a dispatcher on the test's own event loop alike. It checks each request's signatures with the
functions docs/webhooks.md gives receivers (the page's own code blocks, run here), records every request, and
answers what the test tells it to."""

from __future__ import annotations

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .processes import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = b"whsec-0123456789abcdef0123"


def doc_blocks(language: str) -> list[str]:
    """The fenced code blocks of docs/webhooks.md in `language`, in order."""
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def _documented(function: str):
    """The function of that name, from the docs/webhooks.md code block that defines it."""
    namespace: dict = {}
    exec(next(block for block in doc_blocks("python") if f"def {function}(" in block), namespace)
    return namespace[function]


verify_signature = _documented("verify_signature")    # X-Modemd-Signature
verify_webhook = _documented("verify_webhook")        # Standard Webhooks' webhook-* headers
verify_asg_signature = _documented("verify_asg_signature")   # android-sms-gateway's X-Signature


def signed_by(key: bytes, body: bytes, headers) -> bool:
    """The request carries a signature, and every scheme it carries verifies with the documented code."""
    checks = []
    if "X-Modemd-Signature" in headers:
        checks.append(verify_signature(key, body, headers["X-Modemd-Signature"]))
    if "webhook-signature" in headers:
        checks.append(verify_webhook(key, body, headers))
    if "X-Signature" in headers:
        checks.append(verify_asg_signature(key, body, headers))
    return bool(checks) and all(checks)
_order = itertools.count()      # request arrival and answer order across all receivers, without clocks


class Receiver:
    """Records every request, answered or not: {"event", "headers", "body", "valid", "at", "status", "done_at"}
    ("at" and "done_at" are positions in one global order); "valid" is signed_by() with `secret`, the webhook's key.
    `answer(event) -> status` decides the answer (by default 204, or 401 for a bad signature as docs/webhooks.md
    says); it runs in the request's own thread, so it may block (on a threading.Event, to hold a request in flight).
    stop() and start() again on the same port: a receiver that is down (connection refused), then back."""

    def __init__(self, secret: bytes = SECRET, port: int | None = None):
        self.secret, self.port = secret, port or free_port()
        self.requests: list[dict] = []
        self.answer = lambda event: 204
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/sms?token=private"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver._handle(self)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers["Content-Length"]))
        record = {"event": json.loads(body), "headers": dict(request.headers.items()), "body": body,
                  "valid": signed_by(self.secret, body, request.headers),
                  "at": next(_order)}
        self.requests.append(record)
        status = self.answer(record["event"]) if record["valid"] else 401
        record["status"], record["done_at"] = status, next(_order)
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    # ---- what arrived -----------------------------------------------------------------------------------------------
    def acknowledged(self) -> list[dict]:
        """Every event answered with a 2xx, repeats included, in arrival order."""
        return [r["event"] for r in self.requests if 200 <= r.get("status", 0) < 300]

    def accepted(self) -> list[dict]:
        """The acknowledged events deduplicated by id, as a receiver should, in arrival order."""
        seen: set[str] = set()
        return [e for e in self.acknowledged() if not (e["id"] in seen or seen.add(e["id"]))]

    def of_type(self, kind: str) -> list[dict]:
        """The acknowledged events of one type, repeats included."""
        return [e for e in self.acknowledged() if e["type"] == kind]

    @property
    def bad_signatures(self) -> int:
        return sum(not r["valid"] for r in self.requests)
