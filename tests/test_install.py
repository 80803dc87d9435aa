"""`modemd install-service --root DIR` lays out the unit, sysusers entry, udev rules and config as a server needs,
and refuses an ExecStart the unit's sandbox would hide. (tests/test_service_pid1.py runs it for real, as root,
on a Debian booted with systemd as PID 1.)"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kit import run_modemd
from modemd.cli.install import check_executable, hidden_from_service, InstallError

# Stands in for /opt/modemd/bin/modemd: an executable outside what ProtectHome=/PrivateTmp= hide. The modemd this
# suite runs lives in a venv whose Python may sit under /root (pyenv), which the check rightly refuses.
SERVICE_VISIBLE_PROGRAM = "/usr/bin/env"


def install_under(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_modemd("install-service", "--root", str(root), *extra, timeout=30)


def test_install_under_a_root(tmp_path):
    result = install_under(tmp_path, "--exec", SERVICE_VISIBLE_PROGRAM)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "etc/systemd/system/modemd.service").read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_line == f"ExecStart={SERVICE_VISIBLE_PROGRAM} run --config /etc/modemd/modemd.toml"
    doc = next(line for line in text.splitlines() if line.startswith("Documentation="))
    assert Path(doc.removeprefix("Documentation=file://")).is_file(), doc     # the README that was installed
    assert (tmp_path / "etc/sysusers.d/modemd.conf").read_text().count("u modemd") == 1
    assert "ID_MM_DEVICE_IGNORE" in (tmp_path / "etc/udev/rules.d/70-modemd.rules").read_text()
    config = tmp_path / "etc/modemd/modemd.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert "to do: systemd-sysusers" in result.stdout
    assert "chgrp modemd /etc/modemd /etc/modemd/modemd.toml" in result.stdout
    config.write_text("# mine\n")
    again = install_under(tmp_path, "--exec", SERVICE_VISIBLE_PROGRAM)
    assert again.returncode == 0 and config.read_text() == "# mine\n"     # an admin's config is never replaced


def test_an_exec_start_the_sandbox_hides_is_refused(tmp_path):
    program = tmp_path / "venv/bin/modemd"
    program.parent.mkdir(parents=True)
    program.write_text("#!/usr/bin/python3\n")
    result = install_under(tmp_path / "root", "--exec", str(program))
    assert result.returncode == 1
    assert "/tmp" in result.stderr and "/opt/modemd" in result.stderr, result.stderr
    assert not (tmp_path / "root/etc/systemd/system/modemd.service").exists()    # nothing half-written


@pytest.mark.parametrize("path, hidden", [
    ("/root/.local/bin/modemd", "/root"), ("/home/ann/venv/bin/modemd", "/home"), ("/tmp/x/modemd", "/tmp"),
    ("/var/tmp/modemd", "/var/tmp"), ("/opt/modemd/bin/modemd", None), ("/usr/local/bin/modemd-nonexistent", None),
    ("/rootless/bin/modemd", None)])
def test_what_the_sandbox_hides(path, hidden):
    top = hidden_from_service(path)
    assert (str(top) if top else None) == hidden


def test_a_script_whose_interpreter_is_hidden_is_refused(tmp_path, monkeypatch):
    script = tmp_path / "modemd"
    script.write_text("#!/root/.pyenv/versions/3.11.7/bin/python3.11\n")
    monkeypatch.setattr("modemd.cli.install.HIDDEN", (Path("/root"),))     # the script itself is in /tmp
    with pytest.raises(InstallError, match="/root/.pyenv"):
        check_executable(str(script))
    script.write_text("#!/usr/bin/python3\n")
    check_executable(str(script))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_installed_unit_verifies(tmp_path):
    install_under(tmp_path, "--exec", SERVICE_VISIBLE_PROGRAM).check_returncode()
    unit = tmp_path / "etc/systemd/system/modemd.service"
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "modemd" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
