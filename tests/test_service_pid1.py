"""The service as a server runs it: Debian 12 booted with systemd as PID 1 (tests/nspawn.py), modemd installed the
way README "Install on a server" says (a venv under /opt, a link in /usr/local/bin, `modemd install-service`), the
shipped unit unchanged (User=modemd and all its sandboxing), the simulated modem switched on in the config.

The tests run in order on one machine, each building on the one before, as an admin would: install, start, use the
CLI as root without a token, reload, restart with a message waiting, reboot; last, a config the service cannot
read must fail the start and be named by `check-config`. Each prints the figures the issue asks for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nspawn
from kit import wait_for

ROOT = Path(__file__).resolve().parent.parent
TO = "+4915112345678"
MASKED = "+4915******678"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="booting a container with systemd-nspawn needs root"),
    pytest.mark.skipif(bool(nspawn.missing_tools()),
                       reason=f"missing {nspawn.missing_tools()} (Debian packages debootstrap, systemd-container)"),
]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """What the admin would copy to the server: modemd's wheel, the runtime lock file, and the locked dependencies
    as wheels (the container has no network; pip installs from this folder only)."""
    folder = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "-w", str(folder), str(ROOT)], check=True,
                   timeout=300, stdin=subprocess.DEVNULL)
    # The wheel's own dependencies at the locked versions: the lock also pins the postgresql extra's (psycopg's C
    # implementation, an sdist built on the host), which a plain install does not take.
    (built,) = folder.glob("modemd-*.whl")
    subprocess.run(pip + ["download", "--only-binary=:all:", "--python-version", "3.11", "--platform",
                          "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64", "--implementation", "cp",
                          "-d", str(folder), "-c", str(ROOT / "requirements/runtime.txt"), str(built)],
                   check=True, timeout=600, stdin=subprocess.DEVNULL)
    shutil.copy(ROOT / "requirements/runtime.txt", folder / "runtime.txt")
    return folder


@pytest.fixture(scope="module")
def machine(tmp_path_factory, wheels):
    box = nspawn.Machine(tmp_path_factory.mktemp("pid1"), binds={str(wheels): "/mnt/modemd"})
    box.create()
    try:
        seconds = box.boot()
        print(f"\n[pid1] Debian 12 booted with systemd as PID 1 in {seconds:.1f} s")
        yield box
        journal = box.run("journalctl -u modemd --no-pager -n 60 -b", check=False).stdout
        print(f"\n[pid1] last journal lines of modemd:\n{journal}")
    finally:
        box.shutdown()


def timed(box: nspawn.Machine, command: str, **kw) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = box.run(command, **kw)
    return result, time.monotonic() - started


def service(box: nspawn.Machine) -> dict[str, str]:
    out = box.run("systemctl show modemd -p ActiveState -p SubState -p MainPID -p Result -p NRestarts").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def handset(box: nspawn.Machine) -> list[dict]:
    text = box.run("cat /var/lib/modemd/handset.jsonl 2>/dev/null || true").stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_install_as_the_readme_says(machine):
    assert machine.run("cat /proc/1/comm").stdout.strip() == "systemd"
    _, seconds = timed(machine, "python3 -m venv /opt/modemd && /opt/modemd/bin/pip install -q --no-index "
                                "--find-links /mnt/modemd -c /mnt/modemd/runtime.txt /mnt/modemd/modemd-*.whl && "
                                "ln -sf /opt/modemd/bin/modemd /usr/local/bin/modemd")
    print(f"\n[pid1] venv + pip install of the wheel with the locked versions: {seconds:.1f} s")
    installed = machine.run("modemd install-service")
    print(installed.stdout)
    # No udevd runs in a container: said and skipped, the rest done.
    assert "udevd is not running here" in installed.stdout
    assert "ran: systemctl daemon-reload" in installed.stdout
    unit = machine.run("systemctl cat modemd").stdout
    assert "ExecStart=/opt/modemd/bin/modemd run --config /etc/modemd/modemd.toml" in unit
    doc = machine.run("systemctl show modemd -p Documentation --value").stdout.strip()
    machine.run(f"test -f {doc.removeprefix('file://')}")              # the README it points at is there
    assert machine.run("id modemd").returncode == 0
    assert machine.run("stat -c '%U:%G %a' /etc/modemd /etc/modemd/modemd.toml").stdout.split("\n")[:2] == \
        ["root:modemd 750", "root:modemd 640"]


def test_the_service_starts_as_user_modemd_with_the_shipped_unit(machine):
    machine.run("sed -i 's/^#simulate = false/simulate = true/' /etc/modemd/modemd.toml")
    checked = machine.run("modemd check-config --config /etc/modemd/modemd.toml")
    assert checked.stdout.startswith("OK /etc/modemd/modemd.toml: 1 modem(s) + simulated"), checked.stdout
    _, seconds = timed(machine, "systemctl enable --now modemd")     # returns after READY=1 (Type=notify)
    print(f"\n[pid1] systemctl enable --now modemd (to READY=1): {seconds:.2f} s")
    state = service(machine)
    assert state["ActiveState"] == "active" and state["SubState"] == "running", state
    owner = machine.run(f"ps -o user= -p {state['MainPID']}").stdout.strip()
    assert owner == "modemd"
    # The unit as shipped: its sandbox is applied (nothing relaxed for the test).
    assert machine.run("systemctl show modemd -p ProtectSystem --value").stdout.strip() == "strict"
    # LimitNOFILE= (as far as this host allows: systemd clamps it), and modemd's soft limit raised to the hard one.
    soft, hard = machine.run(f"grep 'Max open files' /proc/{state['MainPID']}/limits").stdout.split()[3:5]
    ceiling = machine.run("grep 'Max open files' /proc/1/limits").stdout.split()[4]      # what PID 1 may give
    assert soft == hard == str(min(65536, int(ceiling))), (soft, hard, ceiling)
    assert machine.run("stat -c '%U:%G %a' /run/modemd/admin.sock").stdout.strip() == "modemd:modemd 660"


def test_admin_commands_as_root_need_no_token(machine):
    wait_for(lambda: machine.run("modemd status", check=False).returncode == 0, timeout=60)
    status = machine.run("modemd status")
    assert "sim0" in status.stdout and "ready" in status.stdout, status.stdout
    sent = machine.run(f"modemd otp send {TO}")
    assert "pending until" in sent.stdout
    wait_for(lambda: any(m["to"] == TO for m in handset(machine)), timeout=60)
    code = next(m for m in handset(machine) if m["to"] == TO)["text"].split()[0]
    assert machine.run(f"modemd otp verify {TO} {code}").stdout.strip() == "approved"
    journal = machine.run("journalctl -u modemd --no-pager -o cat").stdout
    assert MASKED in journal and TO not in journal and code not in journal
    # A user outside group modemd gets neither the socket nor the token, and is told what was tried.
    machine.run("id nobody")
    refused = machine.run("setpriv --reuid=nobody --regid=nogroup --clear-groups modemd status", check=False)
    assert refused.returncode in (69, 77) and "admin socket /run/modemd/admin.sock" in refused.stderr, refused


def test_reload_keeps_the_process(machine):
    before = service(machine)["MainPID"]
    machine.run("systemctl reload modemd")
    assert service(machine)["MainPID"] == before and service(machine)["ActiveState"] == "active"
    assert "configuration reloaded" in machine.run("journalctl -u modemd --no-pager -o cat").stdout


def test_restart_keeps_a_queued_message(machine):
    # The simulated network stops registering the modem: the message waits in the queue.
    fault = {"op": "fault", "name": "registration", "value": 2}
    machine.run("/opt/modemd/bin/python3 -c 'import json, socket, sys; s = socket.socket(socket.AF_UNIX); "
                "s.connect(\"/var/lib/modemd/sim-modem0.sock\"); s.sendall(sys.stdin.read().encode() + b\"\\n\"); "
                "print(s.recv(65536).decode())'", input=json.dumps(fault))
    wait_for(lambda: "ready" not in machine.run("modemd status", check=False).stdout.split("sim0")[1].split()[0],
             timeout=60)
    message_id = machine.run(f"modemd send {TO} 'kept across a restart'").stdout.split()[0]
    assert json.loads(machine.run("modemd queue list --json").stdout)["data"][0]["status"] == "queued"
    _, seconds = timed(machine, "systemctl restart modemd")
    print(f"\n[pid1] systemctl restart modemd: {seconds:.2f} s")
    # The new process's simulated modem registers again; the message queued before the restart goes out.
    wait_for(lambda: any(m["text"] == "kept across a restart" for m in handset(machine)), timeout=60)
    listed = json.loads(machine.run("modemd queue list --json").stdout)["data"]
    assert next(m for m in listed if m["id"] == message_id)["status"] in ("sent", "delivered")


def test_a_reboot_brings_the_service_back(machine):
    seconds = machine.reboot()
    print(f"\n[pid1] reboot of the container, to booted: {seconds:.1f} s")
    assert service(machine)["ActiveState"] == "active"
    wait_for(lambda: machine.run("modemd status", check=False).returncode == 0, timeout=60)
    assert machine.run("systemctl show modemd -p User --value").stdout.strip() == "modemd"


def test_a_config_the_service_cannot_read_fails_and_check_config_says_why(machine):
    machine.run("chgrp root /etc/modemd/modemd.toml")         # what a plain `cp` as root leaves: root:root
    checked = machine.run("modemd check-config --config /etc/modemd/modemd.toml", check=False)
    assert checked.returncode == 78 and "user modemd" in checked.stderr and "chgrp modemd" in checked.stderr, \
        checked.stderr
    started = machine.run("systemctl restart modemd", check=False)
    assert started.returncode != 0
    journal = machine.run("journalctl -u modemd --no-pager -o cat -n 20").stdout
    assert "Permission denied" in journal, journal
    # install-service again puts it right (it keeps the admin's config and fixes its owner).
    machine.run("modemd install-service && systemctl restart modemd")
    assert service(machine)["ActiveState"] == "active"
