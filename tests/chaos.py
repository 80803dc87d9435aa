"""Helpers for the crash-safety test: a retrying, idempotent HTTP producer and a killer schedule.

The producer is what a careful client does: every message has its own Idempotency-Key, and a POST that breaks
(connection refused, reset, no status line) is sent again with the same key until an answer comes back. A 202 means
"accepted now"; a 200 means "this key was already accepted" and must carry the id of the first acceptance.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field

BROKEN = (ConnectionError, http.client.HTTPException, TimeoutError, OSError)


@dataclass
class Outcome:
    index: int
    key: str
    text: str
    to: str
    id: str | None = None
    status: int | None = None          # the answer that ended the retries (202 or 200)
    broken_tries: int = 0              # POSTs that got no answer (the daemon died or was down)
    cut_tries: int = 0                 # ... of which the connection was made and then broke (killed mid-request)
    answers: list[tuple[int, str]] = field(default_factory=list)


def post_json(port: int, path: str, body: dict, headers: dict, timeout: float = 10.0) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def get_json(port: int, path: str, headers: dict, timeout: float = 10.0) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


class Producer:
    """Worker threads that POST the messages in order; a pacer lets one through every 1/rate s, and burst(n)
    lets n through at once (a kill timed into a burst catches POSTs between commit and answer)."""

    def __init__(self, port: int, token: str, outcomes: list[Outcome], *, threads: int = 32, rate: float = 20.0,
                 give_up_after: float = 60.0):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.outcomes = outcomes
        self.rate = rate
        self.give_up_after = give_up_after
        self.errors: list[str] = []
        self._next = 0
        self._lock = threading.Lock()
        self._permits = threading.Semaphore(0)
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True, name=f"producer-{n}")
                         for n in range(threads)]
        self._pacer = threading.Thread(target=self._pace, daemon=True, name="producer-pacer")

    def start(self) -> None:
        for t in self._threads:
            t.start()
        self._pacer.start()

    def burst(self, n: int) -> None:
        self._permits.release(n)

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._done.set()
        return not any(t.is_alive() for t in self._threads)

    def _pace(self) -> None:
        while not self._done.wait(1.0 / self.rate):
            self._permits.release()

    def _take(self) -> Outcome | None:
        with self._lock:
            if self._next >= len(self.outcomes):
                return None
            self._next += 1
            return self.outcomes[self._next - 1]

    def _run(self) -> None:
        while True:
            self._permits.acquire()
            outcome = self._take()
            if outcome is None:
                self._permits.release()        # wake the next worker so it sees the end too
                return
            try:
                self.submit(outcome)
            except Exception as exc:   # reported by the test, never swallowed
                self.errors.append(f"message {outcome.index}: {type(exc).__name__}: {exc}")

    def submit(self, outcome: Outcome) -> None:
        headers = {**self.headers, "Idempotency-Key": outcome.key}
        body = {"to": outcome.to, "text": outcome.text}
        started = time.monotonic()
        while True:
            try:
                status, reply = post_json(self.port, "/v1/messages", body, headers)
            except BROKEN as exc:
                outcome.broken_tries += 1
                if not isinstance(exc, ConnectionRefusedError):
                    outcome.cut_tries += 1
                if time.monotonic() - started > self.give_up_after:
                    raise RuntimeError(f"no answer for {self.give_up_after} s") from None
                time.sleep(0.05)
                continue
            outcome.answers.append((status, reply.get("id", "")))
            if status not in (200, 202):
                raise RuntimeError(f"POST answered {status}: {reply}")
            if status == 200 and outcome.broken_tries == 0:
                raise RuntimeError(f"first POST of a fresh key answered 200: {reply}")
            outcome.status, outcome.id = status, reply["id"]
            return
