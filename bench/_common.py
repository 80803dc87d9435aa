"""Shared plumbing for the benchmarks: the processes come from the test kit (tests/kit: SimProcess, DaemonProcess,
running_daemon, wait_for), with what only a benchmark wants on top (no rate limits, a patched copy of the package,
py-spy); and percentiles, RSS, CPU. Not a benchmark itself."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:                   # run as `python bench/bench_x.py`: the repository root is not there
    sys.path.insert(0, str(ROOT))

from tests.kit import (TOKEN, DaemonProcess, SimProcess, free_port, running_daemon, wait_for,  # noqa: E402,F401
                       write_config)

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


def parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as the help, and --keep (keep the temporary directory)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return ap


def show(label: str, r: dict, *, width: int = 44, rate: str = "{:8.0f} msg/s", note: str = "") -> None:
    """One line of a throughput run (rate, p50, p99, how many in how long), and its CPU line if it has one."""
    print(f"{label:<{width}} {rate.format(r['rate'])}   p50 {ms(r['p50']):>10}   p99 {ms(r['p99']):>10}   "
          f"({r['n']} in {r['elapsed']:.2f} s{note})")
    if r.get("cpu"):
        print(f"{'':<{width}} {r['cpu']}")


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"modemd-{prefix}-"))


def daemon_options(ports: list[str], *, config: str | None = None, state: Path | None = None,
                   log_level: str = "warning", extra: list[str] | None = None) -> tuple[list[str], dict]:
    """The arguments and DaemonProcess options of a benchmark's `modemd run`: one --port per modem, a 0600 config
    file (NO_LIMITS, the token in $MODEMD_TOKEN; or `config`, TOML text that names its own token), and
    BENCH_MODEMD_PATH=<dir>: the daemon runs a patched copy of the package there (to measure a proposed fix
    without touching the tree)."""
    args = [a for port in ports for a in ("--port", port)] + (extra or [])
    options = {"config": NO_LIMITS if config is None else config, "token_in_env": config is None,
               "state": state, "log_level": log_level}
    patched = os.environ.get("BENCH_MODEMD_PATH")
    if patched:
        options["env"] = {"PYTHONPATH": patched + os.pathsep + os.environ.get("PYTHONPATH", "")}
        options["cwd"] = patched                                  # python -m: the current directory comes first
    return args, options


@contextmanager
def daemon(tmp: Path, ports: list[str], **kw) -> Iterator[DaemonProcess]:
    """running_daemon for a benchmark (daemon_options), ready, profiled while it runs when BENCH_PYSPY is set."""
    args, options = daemon_options(ports, **kw)
    with running_daemon(tmp, *args, timeout=40.0, **options) as d, profiled(d):
        yield d


def start_daemon(tmp: Path, ports: list[str], **kw) -> DaemonProcess:
    """The same `modemd run`, started and not waited for (to time its start-up); stop() it."""
    args, options = daemon_options(ports, **kw)
    args += ["--config", str(write_config(tmp, options.pop("config")))]
    return DaemonProcess(tmp, None, *args, **options)


@contextmanager
def profiled(daemon: DaemonProcess) -> Iterator[None]:
    """BENCH_PYSPY=<file>: sample the daemon with py-spy (collapsed stacks) from here until the end of the block;
    BENCH_PYSPY_ARGS adds py-spy options (--gil: only the thread holding the GIL)."""
    out = os.environ.get("BENCH_PYSPY")
    if not (out and shutil.which("py-spy")):
        yield
        return
    profiler = subprocess.Popen(["py-spy", "record", "--pid", str(daemon.proc.pid), "--format", "raw", "--rate",
                                 "200", "-o", out, *os.environ.get("BENCH_PYSPY_ARGS", "").split()],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        profiler.send_signal(2)
        profiler.wait(30)


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
