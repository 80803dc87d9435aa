"""systemd/: the unit passes `systemd-analyze verify`, its exposure stays under the threshold, sysusers parses.

All of it runs offline, without systemd as PID 1 (Debian 12: systemd 252). Packages: `systemd` (systemd-analyze,
systemd-sysusers).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
UNIT = SYSTEMD / "modemd.service"
DIALOUT_DROPIN = SYSTEMD / "modemd-dialout.conf"
SYSUSERS = SYSTEMD / "modemd.sysusers"
INSTALLED_EXEC = "/usr/local/bin/modemd"

# `systemd-analyze security --offline=true systemd/modemd.service` on systemd 252 measured
#   "→ Overall exposure level for modemd.service: 1.3 OK 🙂"
# --threshold takes tenths (13 = 1.3); 15 leaves room for a new systemd version rating an item a little higher,
# but not for a lost directive (ProtectSystem=, DeviceAllow=, CapabilityBoundingSet= each cost far more).
EXPOSURE_THRESHOLD = 15

analyze = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(analyze is None, reason="systemd-analyze not installed (Debian package: systemd)")


def unit_for_verify(tmp_path: Path, extra: str = "") -> Path:
    """The unit as shipped when its ExecStart binary is installed; otherwise a copy pointing at an executable that
    exists (verify checks that the command is executable). Nothing else is changed."""
    text = UNIT.read_text()
    if not os.access(INSTALLED_EXEC, os.X_OK):
        text = text.replace(f"ExecStart={INSTALLED_EXEC} ", "ExecStart=/bin/true ")
        assert "ExecStart=/bin/true " in text
    path = tmp_path / "modemd.service"
    path.write_text(text + extra)
    return path


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            found.setdefault(m.group(1), []).append(m.group(2))
    return found


def test_unit_has_the_contract_the_daemon_relies_on():
    d = directives(UNIT.read_text())
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["30s"]
    assert d["ExecStart"] == [f"{INSTALLED_EXEC} run --config /etc/modemd/modemd.toml"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["Restart"] == ["on-failure"]
    assert d["User"] == ["modemd"] and d["StateDirectory"] == ["modemd"]
    # Serial classes, and ptys (the simulated modem, socat/ser2net bridges); nothing else of the host's /dev.
    assert d["DeviceAllow"] == ["char-ttyUSB rw", "char-ttyACM rw", "/dev/ptmx rw", "char-pts rw"]
    assert d["DevicePolicy"] == ["closed"]
    assert d["CapabilityBoundingSet"] == [""]
    assert "SupplementaryGroups" not in d
    assert "LoadCredential" not in d          # fatal when the file is missing; documented as a drop-in instead


@needs_analyze
def test_systemd_analyze_verify(tmp_path):
    unit = unit_for_verify(tmp_path)
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=30)
    # verify exits 0 on warnings such as "Unknown key name"; any output at all is a finding.
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == "", proc.stderr + proc.stdout


@needs_analyze
def test_verify_with_the_dialout_dropin(tmp_path):
    # A drop-in's [Service] section appended to the unit is what systemd merges; verify that combination.
    unit = unit_for_verify(tmp_path, "\n" + DIALOUT_DROPIN.read_text())
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert directives(DIALOUT_DROPIN.read_text())["SupplementaryGroups"] == ["dialout"]


@needs_analyze
def test_security_exposure_under_threshold():
    proc = subprocess.run([analyze, "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", str(UNIT)],
                          capture_output=True, text=True, timeout=30)
    overall = re.search(r"Overall exposure level for modemd\.service: (\d+\.\d+)", proc.stdout)
    assert overall, proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exposure {overall.group(1)} is above {EXPOSURE_THRESHOLD / 10}:\n{proc.stdout}"
    assert float(overall.group(1)) <= EXPOSURE_THRESHOLD / 10


@needs_analyze
def test_security_threshold_is_a_real_gate(tmp_path):
    # The same unit without its sandbox must fail the gate (guards against a flag that silently stops working).
    bare = tmp_path / "modemd.service"
    bare.write_text("[Service]\nType=notify\nExecStart=/bin/true\nUser=modemd\n")
    proc = subprocess.run([analyze, "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", str(bare)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None,
                    reason="systemd-sysusers not installed (Debian package: systemd)")
def test_sysusers_file_parses_and_creates_the_user(tmp_path):
    # --root makes it resolve names in the (empty) tmp root, --dry-run writes nothing; the file comes on stdin
    # because positional paths are looked up under --root.
    (tmp_path / "etc").mkdir()
    proc = subprocess.run(["systemd-sysusers", "--dry-run", f"--root={tmp_path}", "-"], input=SYSUSERS.read_text(),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    log = proc.stdout + proc.stderr
    assert "Creating group 'modemd'" in log
    assert re.search(r"Creating user 'modemd' \(modemd SMS daemon\)", log), log
    assert "Unknown" not in log and "Failed" not in log, log
    assert not any(tmp_path.joinpath("etc").iterdir())


def test_stop_timeout_covers_the_send_in_flight():
    # systemd kills the daemon at TimeoutStopSec; it must not come before services.outbox.STOP_GRACE ran out (plus
    # closing).
    from modemd.services.outbox import STOP_GRACE
    stop = directives(UNIT.read_text())["TimeoutStopSec"]
    assert stop[0].endswith("s") and float(stop[0][:-1]) >= STOP_GRACE + 5, (stop, STOP_GRACE)


def test_runtime_directory_holds_the_admin_socket():
    d = directives(UNIT.read_text())
    assert d["RuntimeDirectory"] == ["modemd"] and d["RuntimeDirectoryMode"] == ["0750"]
    assert "modem-pin" not in UNIT.read_text()      # no credential that no code reads


def test_memory_and_open_files_are_bounded():
    d = directives(UNIT.read_text())
    assert d["MemoryMax"] == ["512M"] and d["MemoryHigh"] == ["256M"]
    assert d["LimitNOFILE"] == ["65536"]
    # connections are capped below the file limit with room to spare (api.connections.FILES_IN_RESERVE)
    from modemd.api.connections import FILES_IN_RESERVE, connection_cap
    from modemd.config.loader import ServerConfig
    assert connection_cap(ServerConfig().max_connections, 65536) == ServerConfig().max_connections
    assert connection_cap(ServerConfig().max_connections, 1024) == 1024 - FILES_IN_RESERVE
