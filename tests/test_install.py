"""`modemd install-service --root DIR` lays out the unit, sysusers entry, udev rules and config as a server needs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from conftest import MODEMD


def test_install_under_a_root(tmp_path):
    result = subprocess.run(MODEMD + ["install-service", "--root", str(tmp_path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "etc/systemd/system/modemd.service"
    text = unit.read_text()
    assert "/usr/local/bin/modemd" not in text or shutil.which("modemd") == "/usr/local/bin/modemd"
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    program = exec_line.split("=", 1)[1].split()[0]
    assert os.access(program, os.X_OK), exec_line
    assert (tmp_path / "etc/sysusers.d/modemd.conf").read_text().count("u modemd") == 1
    assert "ID_MM_DEVICE_IGNORE" in (tmp_path / "etc/udev/rules.d/70-modemd.rules").read_text()
    config = tmp_path / "etc/modemd/modemd.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert "to do: systemd-sysusers" in result.stdout and "systemctl daemon-reload" in result.stdout
    config.write_text("# mine\n")
    again = subprocess.run(MODEMD + ["install-service", "--root", str(tmp_path)], capture_output=True, text=True,
                           timeout=30)
    assert again.returncode == 0 and config.read_text() == "# mine\n"     # an admin's config is never replaced


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_installed_unit_verifies(tmp_path):
    subprocess.run(MODEMD + ["install-service", "--root", str(tmp_path)], check=True, capture_output=True,
                   timeout=30)
    unit = tmp_path / "etc/systemd/system/modemd.service"
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "modemd" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
