"""modemd as a user runs it: `modemd simulate` and `modemd run` as processes of their own, the CLI, HTTP.

Every test that uses these starts processes and so carries the e2e marker (kit.markers decides it from the code).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


from .wait import wait_for

MODEMD = [sys.executable, "-m", "modemd"]
TOKEN = "e2e-token-5f0c2a9d7b"
# Variables of the shell running the tests that would change what a daemon or the CLI does: the token and URL
# the CLI reads, and the directories systemd hands a service (credentials: where the token is looked for first;
# state: the default state directory).
CALLER_ONLY = ("MODEMD_TOKEN", "MODEMD_URL", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY")
STOP_GRACE = 10.0         # seconds between SIGTERM and SIGKILL; a clean stop finishes the send in flight first


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, headers: dict | None = None) -> tuple[int, dict]:
    """(status, JSON body); (0, {}) when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def write_config(directory: Path, toml: str, name: str = "modemd.toml") -> Path:
    """A config file for `modemd run --config`, mode 0600 from its first byte (it may hold tokens)."""
    path = Path(directory) / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(toml)
    os.chmod(path, 0o600)          # an existing file keeps its mode through O_CREAT
    return path


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without CALLER_ONLY, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k not in CALLER_ONLY}, **extra}


def run_modemd(*args: str, env: dict[str, str] | None = None, stdin_text: str | None = None, timeout: float = 60,
               **options) -> subprocess.CompletedProcess:
    """One `modemd ...` command (the CLI), its output captured as text; `env` is added to a clean environment."""
    return subprocess.run(MODEMD + list(args), capture_output=True, text=True, timeout=timeout,
                          env=clean_environment(**(env or {})), input=stdin_text,
                          stdin=None if stdin_text is not None else subprocess.DEVNULL, **options)


def stop_process(proc: subprocess.Popen, grace: float = STOP_GRACE) -> int:
    """SIGTERM, and SIGKILL if it has not exited after `grace` seconds; its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class SimProcess:
    """`modemd simulate` in its own process: a pty linked at `link`, the handset's record in a JSON-lines file, and
    its control socket driven with modemd's own ControlClient (`sim.control.fault("no_answer", True)`)."""

    def __init__(self, directory: Path, name: str = "ttyUSB2", *, device: str = "ec25", network_delay: float = 0.0,
                 link: str | None = None, **identity: str):
        """identity: imei=, iccid=, imsi= (`modemd simulate --imei ...`); link: the port's path if not
        directory/name (a glob-matched directory of its own, for discovery tests)."""
        directory = Path(directory)
        self.link = link or str(directory / name)
        self.handset = directory / f"{name}.handset.jsonl"
        control_path = str(directory / f"{name}.sock")
        self.log_path = directory / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            MODEMD + ["simulate", "--device", device, "--link", self.link, "--handset", str(self.handset),
                      "--control", control_path, *(f"--{k}={v}" for k, v in identity.items())], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        from modemd.simulator import ControlClient   # here: bench_growth measures its own RSS without the simulator
        self.control = ControlClient(control_path)
        wait_for(lambda: self._exited() or (os.path.exists(self.link) and os.path.exists(control_path)))
        if network_delay:
            self.control.fault("network_delay", network_delay)

    def _exited(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"modemd simulate exited with {self.proc.returncode}: {self.log_path.read_text()}")
        return False

    def messages(self) -> list[dict]:
        """What reached the handset, from its record file."""
        if not self.handset.exists():
            return []
        return [json.loads(line) for line in self.handset.read_text(encoding="utf-8").splitlines() if line]

    def handset_count(self) -> int:
        """How many messages reached the handset, cheaply (the benchmarks poll it)."""
        try:
            with open(self.handset, "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        stop_process(self.proc, grace=5)
        self.log.close()

    def __enter__(self) -> "SimProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class DaemonProcess:
    """`modemd run` as a user starts it: a state directory, a loopback port, the API token `token` (what call()
    sends) in $MODEMD_TOKEN (unless token_in_env is False: the config names it; or `token` is None: no token at
    all), its log in a file. `args` go after `run`; `env` is added to a clean environment."""

    def __init__(self, directory: Path, port: int | None = None, *args: str, log_name: str = "daemon.log",
                 log_level: str | None = None, state: Path | None = None, token: str | None = TOKEN,
                 token_in_env: bool = True, env: dict[str, str] | None = None, cwd: str | None = None):
        directory = Path(directory)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = Path(state) if state else directory / "state"
        self.token = token
        self.log_path = directory / log_name
        self.log = open(self.log_path, "a")
        environment = clean_environment(**(env or {}))
        if token and token_in_env:
            environment["MODEMD_TOKEN"] = token
        command = MODEMD + (["--log-level", log_level] if log_level else []) + [
            "run", "--state-dir", str(self.state), "--listen", f"127.0.0.1:{self.port}", *args]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=environment, cwd=cwd)

    # ---- the HTTP API ----------------------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None
             ) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str, auth: bool = True) -> tuple[int, dict]:
        """GET, (0, {}) while nothing answers."""
        return http_get(self.url + path, {"Authorization": f"Bearer {self.token}"} if auth else None)

    def answers(self, path: str = "/healthz") -> bool:
        return self.get(path, auth=False)[0] != 0

    def ready(self) -> bool:
        return self.get("/readyz", auth=False)[0] == 200

    def not_ready(self) -> bool:
        return self.get("/readyz", auth=False)[0] == 503

    def wait_ready(self, timeout: float = 20.0) -> float:
        """Until /readyz says ready; the seconds since the process started. Fails with the log's tail if the
        process exits or is not ready in time."""
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"modemd run exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            return self.ready()
        try:
            wait_for(ready, timeout, interval=0.01)
        except AssertionError as exc:
            if self.proc.poll() is not None:
                raise
            raise AssertionError(f"modemd run not ready after {timeout} s; log:\n{self.log_tail()}") from exc
        self.ready_after = time.monotonic() - self.started
        return self.ready_after

    # ---- the log -----------------------------------------------------------------------------------------------------
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    # ---- the end -----------------------------------------------------------------------------------------------------
    def terminate(self, timeout: float = STOP_GRACE) -> int:
        """SIGTERM, as systemd stops it; its exit code. (A daemon that has already exited: its exit code.)"""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        self.log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, a power cut."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)
        self.log.close()

    def stop(self) -> int:
        """Whatever state it is in: stopped (SIGTERM, then SIGKILL), its exit code."""
        code = stop_process(self.proc)
        self.log.close()
        return code


@contextmanager
def running_daemon(directory: Path, *args: str, sim: SimProcess | None = None, config: str | None = None,
                   port: int | None = None, ready: bool = True, timeout: float = 20.0,
                   **options) -> Iterator[DaemonProcess]:
    """`modemd run`, ready (/readyz 200; with ready=False only answering: for a modem that cannot send yet), and
    stopped at the end. Its modem: `sim` (a simulator process, whose link becomes --port), or what `args` or
    `config` name (`--simulate`, `simulate = true`: the daemon's own simulator). `config` is TOML text, written
    0600 to `directory` and passed with --config. `options` go to DaemonProcess."""
    if sim is not None:
        args += ("--port", sim.link)
    if config is not None:
        args += ("--config", str(write_config(directory, config)))
    daemon = DaemonProcess(directory, port, *args, **options)
    try:
        if ready:
            daemon.wait_ready(timeout)
        else:
            wait_for(daemon.answers, timeout)
        yield daemon
    finally:
        daemon.stop()


def config_toml(*, port: int | None = None, link: str | None = None, token: str | None = TOKEN,
                extra: str = "") -> str:
    """A daemon config: [server] listen on `port`, [auth] `token`, one [[modems]] entry "ec25" on `link`, then
    `extra` (more TOML)."""
    parts = []
    if port is not None:
        parts.append(f'[server]\nlisten = "127.0.0.1:{port}"\n')
    if token is not None:
        parts.append(f'[auth]\ntokens = ["{token}"]\n')
    if link is not None:
        parts.append(f'[[modems]]\nname = "ec25"\nport = "{link}"\n')
    return "\n".join(parts) + extra
