"""Shared plumbing for the benchmarks: simulator and daemon processes, percentiles, RSS. Not a benchmark itself."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEMD = [sys.executable, "-m", "modemd"]
TOKEN = "bench-token-8d1f0c6e2a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {predicate}")


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"modemd-{prefix}-"))


class Sim:
    """`modemd simulate` as its own process with a control socket."""

    def __init__(self, tmp: Path, name: str = "sim0", network_delay: float = 0.0):
        self.link = str(tmp / f"{name}.tty")
        self.handset = tmp / f"{name}.handset.jsonl"
        self.control_path = str(tmp / f"{name}.sock")
        self.log = open(tmp / f"{name}.log", "w")
        self.proc = subprocess.Popen(MODEMD + ["simulate", "--link", self.link, "--handset", str(self.handset),
                                               "--control", self.control_path],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.link) and os.path.exists(self.control_path))
        if network_delay:
            self.control("fault", name="network_delay", value=network_delay)

    def control(self, op: str, **fields) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.control_path)
            s.sendall((json.dumps({"op": op, **fields}) + "\n").encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                reply += chunk
        return json.loads(reply)

    def handset_count(self) -> int:
        try:
            with open(self.handset, "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def write_config(tmp: Path, toml: str, name: str = "modemd.toml") -> Path:
    """A config file for `modemd run --config`, mode 0600 from the first byte (it holds tokens)."""
    path = tmp / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(toml)
    return path


# A benchmark sends far more than a real app may ([limits] default: 1,000 an hour per app, 20 an hour per number),
# so its daemons run without those caps; what is measured is the daemon, not its refusals.
UNLIMITED = 10 ** 9
NO_LIMITS = f"""
[limits]
sends_per_hour = {UNLIMITED}
sends_per_day = {UNLIMITED}
sms_per_number = {UNLIMITED}
max_queued = {UNLIMITED}
"""


class Daemon:
    """`modemd run` with a bearer token: in $MODEMD_TOKEN, and a generated 0600 config file passed with --config
    (NO_LIMITS unless config= gives TOML text). Flags (--port, --state-dir, --listen) override the file."""

    def __init__(self, tmp: Path, ports: list[str], *, state: Path | None = None, log_level: str = "warning",
                 extra: list[str] | None = None, config: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = state or tmp / "state"
        env = {k: v for k, v in os.environ.items() if k not in ("MODEMD_TOKEN", "CREDENTIALS_DIRECTORY")}
        if config is None:
            env["MODEMD_TOKEN"] = TOKEN
            config = NO_LIMITS
        if os.environ.get("BENCH_MODEMD_PATH"):      # a patched copy of the package, to measure a proposed fix
            env["PYTHONPATH"] = os.environ["BENCH_MODEMD_PATH"] + os.pathsep + env.get("PYTHONPATH", "")
        args = ["--log-level", log_level, "run", "--state-dir", str(self.state), "--listen", f"127.0.0.1:{self.port}"]
        if config is not None:
            args += ["--config", str(write_config(tmp, config))]
        for p in ports:
            args += ["--port", p]
        self.log = open(tmp / "daemon.log", "a")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(MODEMD + args + (extra or []), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     cwd=os.environ.get("BENCH_MODEMD_PATH") or None)   # python -m: cwd first

    def get(self, path: str, auth: bool = True) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers), timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except OSError:
            return 0, {}

    def answers(self, path: str) -> bool:
        return self.get(path, auth=False)[0] != 0

    def ready(self) -> bool:
        return self.get("/readyz", auth=False)[0] == 200

    def wait_ready(self, timeout: float = 40.0) -> float:
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"modemd run exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            return self.ready()
        try:
            wait_for(ready, timeout)
        except TimeoutError:
            raise TimeoutError(f"daemon not ready after {timeout} s; log:\n{self.log_tail()}") from None
        elapsed = time.monotonic() - self.started
        self._start_profiler()
        return elapsed

    def _start_profiler(self) -> None:
        """BENCH_PYSPY=<file>: sample the daemon with py-spy (collapsed stacks) from ready until stop."""
        self.profiler = None
        out = os.environ.get("BENCH_PYSPY")
        if out and shutil.which("py-spy"):
            extra = os.environ.get("BENCH_PYSPY_ARGS", "").split()     # e.g. --gil: only the thread holding the GIL
            self.profiler = subprocess.Popen(["py-spy", "record", "--pid", str(self.proc.pid), "--format", "raw",
                                              "--rate", "200", "-o", out, *extra], stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> int:
        if getattr(self, "profiler", None):
            self.profiler.send_signal(2)
            self.profiler.wait(30)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def cleanup(path: Path, keep: bool) -> None:
    if keep:
        print(f"(kept {path})")
    else:
        shutil.rmtree(path, ignore_errors=True)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"
