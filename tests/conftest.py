"""Shared fixtures: free loopback ports, and the simulated modem as a separate process (as a user runs it)."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from modemd.simulator import SimulatedModem

MODEMD = [sys.executable, "-m", "modemd"]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    return unused_port()


class SimProcess:
    """`modemd simulate` in its own process, driven through its control socket."""

    def __init__(self, tmp: Path, device: str = "ec25"):
        self.link = str(tmp / "ttyUSB2")
        self.handset = tmp / "handset.jsonl"
        self.control_path = str(tmp / "sim.sock")
        self.log = open(tmp / "simulator.log", "w+")
        self.proc = subprocess.Popen(
            MODEMD + ["simulate", "--device", device, "--link", self.link, "--handset", str(self.handset),
                      "--control", self.control_path], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.link) and os.path.exists(self.control_path))

    def control(self, op: str, **fields) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.control_path)
            s.sendall((json.dumps({"op": op, **fields}) + "\n").encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return json.loads(reply)

    def messages(self) -> list[dict]:
        if not self.handset.exists():
            return []
        return [json.loads(line) for line in self.handset.read_text(encoding="utf-8").splitlines() if line]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


async def until(predicate, timeout: float = 10.0, interval: float = 0.01):
    """In async tests: poll until predicate() (a plain or async callable) is truthy and return its value; fail
    naming the predicate after `timeout` s. It waits for something to happen, never to see that nothing does."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        await asyncio.sleep(interval)


@pytest.fixture
async def store(tmp_path):
    """A real Store on a fresh SQLite file (WAL, synchronous=FULL), opened and closed around the test."""
    from modemd.store.sqlite.queue import Store
    s = Store(tmp_path / "modemd.db")
    await s.open()
    yield s
    await s.close()


class FakeDaemon:
    """The daemon's view the HTTP API needs (api.validation.DaemonView), for in-process API tests: the store and
    the OTP service behind it are real; modems are not there (`ready` says what the test wants)."""

    def __init__(self, store, otp=None, *, tokens=None, ready: bool = False):
        from modemd.api.metrics import Metrics
        self.store, self.otp = store, otp
        self.metrics = Metrics()
        self.tokens = tokens
        self.default_region = "DE"
        self.accepted = 0
        self._ready = ready

    def ready(self):
        return self._ready

    def modem_states(self):
        return []

    def message_accepted(self, kind):
        self.accepted += 1


@pytest.fixture
async def sim(tmp_path):
    """The simulated modem in this test's event loop, on a pty linked at tmp_path/ttyUSB2."""
    modem = SimulatedModem(link=str(tmp_path / "ttyUSB2"), handset_path=str(tmp_path / "handset.jsonl"))
    await modem.start()
    yield modem
    await modem.stop()


@pytest.fixture
def sim_process(tmp_path):
    sim = SimProcess(tmp_path)
    yield sim
    sim.stop()


@pytest.fixture
def daemon(sim_process, tmp_path, free_port):
    """`modemd run` on the simulator process, ready (a module may define its own `daemon` to run another way)."""
    d = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
    wait_for(d.ready, timeout=20)
    yield d
    if d.proc.poll() is None:
        d.terminate()


def http_get(url: str, headers: dict | None = None) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


TOKEN = "e2e-token-5f0c2a9d7b"


class DaemonProcess:
    """`modemd run` as a user starts it, with an API token in the environment and its log in a file."""

    def __init__(self, tmp_path, port, *args, log_name="daemon.log", log_level=None):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = tmp_path / log_name
        self.log = open(self.log_path, "a")
        env = {**os.environ, "MODEMD_TOKEN": TOKEN}
        self.proc = subprocess.Popen(
            MODEMD + (["--log-level", log_level] if log_level else []) + ["run", "--state-dir", str(tmp_path / "state"), "--listen", f"127.0.0.1:{port}", *args],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None
             ) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def ready(self) -> bool:
        return http_get(self.url + "/readyz")[0] == 200

    def not_ready(self) -> bool:
        return http_get(self.url + "/readyz")[0] == 503

    def output(self) -> str:
        return self.log_path.read_text()

    def terminate(self) -> int:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(10)
        self.elapsed = time.monotonic() - started
        self.log.close()
        return code


# ---- the e2e marker ----------------------------------------------------------------------------------------------
# A test that starts processes (the daemon, a simulator process, gammu, smsd, systemd, a container) carries the e2e
# marker, so `pytest -m "not e2e"` runs the in-process suite alone. Decided from the code, not by hand: the test's
# own source or a fixture it uses starts one of these.
_STARTS_PROCESSES = ("DaemonProcess", "SimProcess", "subprocess.", "Popen", "MODEMD", "nspawn.")


def _starts_processes(func, seen: dict) -> bool:
    if func not in seen:
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            source = ""
        seen[func] = any(marker in source for marker in _STARTS_PROCESSES)
    return seen[func]


def pytest_collection_modifyitems(config, items):
    seen: dict = {}
    for item in items:
        funcs = [getattr(item, "function", None)]
        info = getattr(item, "_fixtureinfo", None)
        if info is not None:
            funcs += [d.func for defs in info.name2fixturedefs.values() for d in defs]
        if any(f is not None and _starts_processes(f, seen) for f in funcs):
            item.add_marker(pytest.mark.e2e)
