"""A Debian 12 machine booted with systemd as PID 1, for testing the service the way a server runs it.

debootstrap makes a minimal Debian 12 tree once and keeps it in CACHE (later runs reuse it); each test module gets
a copy-on-write overlay of it and boots it with systemd-nspawn: real systemd 252 as PID 1, its journald and logind,
a private network namespace (loopback only), no udevd (as in any container). Commands run inside through nsenter
into the container's namespaces, as root there. A reboot is real too: `systemctl reboot` inside ends the nspawn
process with exit status 133, and the same tree is booted again (what systemd-nspawn@.service does on the host).

Needs root and the Debian packages debootstrap and systemd-container (scripts/test installs them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

CACHE = Path(os.environ.get("MODEMD_TEST_CACHE", "/var/cache/modemd-test"))
SUITE = "bookworm"     # Debian 12: systemd 252, Python 3.11
# What a freshly installed minimal server has, plus what the README's server section asks an admin to install.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "udev", "python3", "python3-venv", "procps")
BOOTED_TIMEOUT = 120.0
REBOOT_STATUS = 133      # systemd-nspawn(1): the container asked to be rebooted
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def missing_tools() -> list[str]:
    return [tool for tool in ("debootstrap", "systemd-nspawn", "nsenter") if shutil.which(tool) is None]


def base_tree() -> Path:
    """The cached Debian tree, made by debootstrap on first use (about a minute), under a lock."""
    key = hashlib.sha256(" ".join(sorted(PACKAGES)).encode()).hexdigest()[:12]
    tree = CACHE / f"debian-{SUITE}-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (tree / "usr/lib/systemd/systemd").exists():
            _debootstrap(tree)
    return tree


def _debootstrap(tree: Path) -> None:
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(partial)]
    mirror = host_debian_mirror()
    if mirror:
        command.append(mirror)
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"debootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    partial.rename(tree)


def host_debian_mirror() -> str | None:
    """The Debian archive this host's apt uses (a local mirror or proxy works for debootstrap too); None lets
    debootstrap use its own default."""
    texts = [p.read_text(errors="replace") for p in [Path("/etc/apt/sources.list"),
                                                     *Path("/etc/apt/sources.list.d").glob("*")] if p.is_file()]
    for text in texts:
        for uri in re.findall(r"(?m)^(?:deb\s+(?:\[[^]]*\]\s+)?|URIs:\s*)(\S+)", text):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    return None


class Machine:
    """One booted container. `run()` executes a shell command inside as root and returns the CompletedProcess."""

    def __init__(self, workdir: Path, name: str = "modemd-pid1", binds: dict[str, str] | None = None):
        self.workdir, self.name, self.binds = workdir, name, binds or {}
        self.root = workdir / "root"
        self.console = workdir / "console.log"
        self._nspawn: subprocess.Popen | None = None
        self.leader = 0

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    def create(self) -> None:
        """A copy-on-write overlay over the cached tree: what the tests change stays in workdir/upper."""
        lower = base_tree()
        for sub in ("upper", "work", "root"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={self.workdir / 'upper'},workdir={self.workdir / 'work'}",
                        str(self.root)], check=True, capture_output=True, text=True)
        (self.root / "etc/hostname").write_text(self.name + "\n")

    def boot(self) -> float:
        """Start systemd as PID 1 and wait until the boot is finished; returns the seconds it took."""
        started = time.monotonic()
        binds = [f"--bind-ro={src}:{dst}" for src, dst in self.binds.items()]
        with open(self.console, "ab") as console:
            self._nspawn = subprocess.Popen(
                ["systemd-nspawn", "--quiet", "-D", str(self.root), "--boot", f"--machine={self.name}",
                 # No systemd on the host to register with or to make a scope for us; systemd-nspawn then runs the
                 # container in its own cgroup, as it does under a non-systemd init.
                 "--register=no", "--keep-unit", "--console=pipe", "--private-network", *binds],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
        self.leader = self._wait_for_leader()
        deadline = time.monotonic() + BOOTED_TIMEOUT
        while True:       # until systemd listens on its private bus, systemctl cannot ask; then --wait waits
            state = self.run(f"timeout {int(BOOTED_TIMEOUT)} systemctl is-system-running --wait", check=False)
            if state.stdout.strip() in ("running", "degraded"):
                return time.monotonic() - started
            if "connect to bus" not in state.stderr or time.monotonic() > deadline:
                raise RuntimeError(f"the container did not finish booting: {state.stdout}{state.stderr}\n"
                                   f"{self.console_tail()}")
            time.sleep(0.1)

    def _wait_for_leader(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited with {self._nspawn.returncode}:\n{self.console_tail()}")
            children = subprocess.run(["pgrep", "-P", str(self._nspawn.pid)], capture_output=True, text=True)
            for pid in children.stdout.split():
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return int(pid)
                except FileNotFoundError:     # a short-lived helper of systemd-nspawn, gone already
                    continue
            time.sleep(0.1)
        raise RuntimeError(f"no systemd came up in the container:\n{self.console_tail()}")

    def reboot(self) -> float:
        """`systemctl reboot` inside, wait for systemd-nspawn to end with 133, boot the same tree again."""
        self.run("systemctl reboot", check=False)
        status = self._nspawn.wait(timeout=120)
        if status != REBOOT_STATUS:
            raise RuntimeError(f"systemd-nspawn ended with {status}, not {REBOOT_STATUS} (reboot)")
        return self.boot()

    def shutdown(self) -> None:
        if self._nspawn and self._nspawn.poll() is None:
            self.run("systemctl poweroff", check=False)
            try:
                self._nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # Killing systemd-nspawn alone would leave the container running under the host's PID 1; killing the
                # container's PID 1 ends its whole PID namespace.
                if self.leader > 0:             # 0 would be our own process group
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.leader, signal.SIGKILL)
                self._nspawn.kill()
                self._nspawn.wait()
        if subprocess.run(["umount", str(self.root)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(self.root)], capture_output=True)   # still busy: detach it

    # ---- inside ------------------------------------------------------------------------------------------------
    def run(self, command: str, *, check: bool = True, timeout: float = 300,
            input: str | None = None) -> subprocess.CompletedProcess:
        """A shell command as root inside the container: its mount, pid, network, ipc, uts and cgroup namespaces,
        its root directory, a login-like environment."""
        argv = ["nsenter", f"--target={self.leader}", "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup",
                "--root", "--wd", "--",     # root and cwd: those of the container's PID 1
                "/usr/bin/env", "-i", f"PATH={CONTAINER_PATH}", "HOME=/root",
                "LANG=C.UTF-8", "/bin/sh", "-c", command]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                                stdin=None if input is not None else subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"in the container, `{command}` exited {result.returncode}:\n"
                                 f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def console_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
