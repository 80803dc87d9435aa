"""The shipped unit under a real systemd manager: Type=notify, status text, reload, watchdog, restart, stop.

No test machine boots systemd as PID 1, but systemd 252 runs as a user manager (`systemd --user`) once
/run/systemd/system exists (its "booted with systemd" check). The unit is systemd/modemd.service itself, with a
drop-in that only changes what a user manager or this machine cannot do:
- ExecStart runs this checkout's modemd on the simulated modem; User=/Group= are for the system manager;
- WatchdogSec=3s so a frozen daemon is caught within the test (the shipped 30 s is the same mechanism);
- a sandboxing directive is relaxed only if a probe shows it fails here (226/NAMESPACE in a VM without
  /dev/kmsg, say) or hides the interpreter or the manager's notify socket (a system service's /run/systemd/notify
  stays visible; a user manager's $XDG_RUNTIME_DIR/systemd/notify does not). The relaxed ones are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit import TOKEN, free_port, wait_for

SYSTEMD = "/lib/systemd/systemd"
UNIT = Path(__file__).resolve().parent.parent / "systemd" / "modemd.service"
# Directives of the shipped unit that set up a mount namespace or hide paths: each is probed before use.
SANDBOX = ["ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "ProtectKernelTunables=yes",
           "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectControlGroups=yes", "ProtectClock=yes",
           "ProtectHostname=yes", "ProtectProc=invisible", "ProcSubset=pid", "PrivateMounts=yes"]
RELAXED = {"ProtectSystem": "no", "ProtectHome": "no", "PrivateTmp": "no", "ProtectKernelTunables": "no",
           "ProtectKernelModules": "no", "ProtectKernelLogs": "no", "ProtectControlGroups": "no",
           "ProtectClock": "no", "ProtectHostname": "no", "ProtectProc": "default", "ProcSubset": "all",
           "PrivateMounts": "no"}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(SYSTEMD) or not shutil.which("systemctl"),
                       reason="needs root and systemd (Debian package: systemd)"),
    pytest.mark.timeout(180),
]


class UserManager:
    def __init__(self):
        # Under /run, not /tmp: the unit's PrivateTmp= would hide the notify socket and the state directory.
        self.root = Path(f"/run/modemd-test-{os.getpid()}")
        self.runtime = self.root / "runtime"
        self.config = self.root / "config"
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime), "XDG_CONFIG_HOME": str(self.config)}
        self.marker = Path("/run/systemd/system")
        self.created_marker = False
        self.proc: subprocess.Popen | None = None

    def start(self) -> bool:
        try:
            self.root.mkdir(mode=0o700)
            self.runtime.mkdir(mode=0o700)
            if not self.marker.exists():
                self.marker.mkdir(parents=True)
                self.created_marker = True
        except OSError:                  # a read-only /run: no manager here
            return False
        self.proc = subprocess.Popen([SYSTEMD, "--user"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: (self.runtime / "systemd" / "private").exists() or self.proc.poll() is not None)
        except AssertionError:
            return False
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.created_marker:
            self.marker.rmdir()
        shutil.rmtree(self.root, ignore_errors=True)

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["systemctl", "--user", *args], env=self.env, capture_output=True, text=True,
                              timeout=60, check=check)

    def show(self, *props: str) -> dict[str, str]:
        out = self.systemctl("show", "modemd", *(f"--property={p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def probe(self, directive: str) -> bool:
        """Can a service with this directive start, import modemd and see the notify socket?"""
        check = (f"import modemd, os; os.stat({str(self.runtime / 'systemd' / 'notify')!r})")
        result = subprocess.run(["systemd-run", "--user", "--wait", "--quiet", "-p", directive, sys.executable,
                                 "-c", check], env=self.env, capture_output=True, text=True, timeout=60)
        return result.returncode == 0


@pytest.fixture(scope="module")
def manager():
    m = UserManager()
    try:
        if not m.start():
            pytest.skip("systemd --user did not start here")
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="module")
def service(manager, tmp_path_factory):
    work = tmp_path_factory.mktemp("modemd-unit")
    port = free_port()
    relaxed = [d for d in SANDBOX if not manager.probe(d)]
    print(f"[systemd-manager] relaxed for this machine: {relaxed or 'none'}")
    units = manager.config / "systemd" / "user"
    (units / "modemd.service.d").mkdir(parents=True)
    shutil.copy(UNIT, units / "modemd.service")
    log = work / "modemd.log"
    lines = ["[Service]", "ExecStart=",
             f"ExecStart={sys.executable} -m modemd run --simulate --state-dir %S/modemd "
             f"--listen 127.0.0.1:{port}",
             "User=", "Group=", "WatchdogSec=3s", "TimeoutStartSec=30s", "RestartSec=1s",
             f"Environment=MODEMD_TOKEN={TOKEN}", f"StandardOutput=append:{log}", f"StandardError=append:{log}"]
    lines += [f"{d.split('=')[0]}={RELAXED[d.split('=')[0]]}" for d in relaxed]
    (units / "modemd.service.d" / "test.conf").write_text("\n".join(lines) + "\n")
    manager.systemctl("daemon-reload")
    manager.port, manager.log, manager.state = port, log, manager.config / "modemd"
    yield manager
    manager.systemctl("stop", "modemd", check=False)


def _post(port: int, path: str, body: dict) -> tuple[int, dict]:
    import urllib.error
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _running(m: UserManager) -> dict[str, str]:
    props = m.show("ActiveState", "SubState", "MainPID", "StatusText", "NRestarts")
    return props if props.get("SubState") == "running" else {}


def test_the_shipped_unit_starts_as_type_notify_sends_and_reloads(service):
    started = time.monotonic()
    service.systemctl("start", "modemd")             # returns only after READY=1 (Type=notify)
    took = time.monotonic() - started
    props = _running(service)
    assert props, service.show("ActiveState", "SubState", "Result")
    # READY=1 does not wait for the modem; STATUS= says when it is up.
    props = wait_for(lambda: (p := _running(service)) and "1 ready" in p["StatusText"] and p, timeout=20)
    print(f"[systemd-manager] systemctl start returned after {took:.2f} s: {props['StatusText']}")
    status, body = _post(service.port, "/v1/otp", {"to": "+4915112345678"})
    assert status == 202, body
    handset = service.state / "handset.jsonl"
    wait_for(lambda: handset.exists() and handset.read_text().strip())
    pid = props["MainPID"]
    service.systemctl("reload", "modemd")            # ExecReload: SIGHUP; RELOADING=1 ... READY=1
    assert _running(service)["MainPID"] == pid
    wait_for(lambda: "configuration reloaded" in service.log.read_text())


def test_a_frozen_daemon_is_restarted_by_the_watchdog(service):
    props = wait_for(lambda: _running(service))
    before = int(props["NRestarts"])
    os.kill(int(props["MainPID"]), signal.SIGSTOP)   # alive but silent: no WATCHDOG=1 any more
    wait_for(lambda: int(service.show("NRestarts")["NRestarts"]) > before, timeout=30)
    after = wait_for(lambda: (p := _running(service)) and "1 ready" in p["StatusText"] and p, timeout=30)
    assert after["MainPID"] != props["MainPID"]


def test_sigkill_is_restarted_and_stop_is_clean(service):
    props = wait_for(lambda: _running(service))
    before = int(props["NRestarts"])
    os.kill(int(props["MainPID"]), signal.SIGKILL)
    wait_for(lambda: int(service.show("NRestarts")["NRestarts"]) > before, timeout=30)
    wait_for(lambda: _running(service), timeout=30)
    service.systemctl("stop", "modemd")
    final = service.show("ActiveState", "Result", "ExecMainStatus")
    assert final == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, final
