"""`modemd install-service`: put the systemd unit, sysusers entry, udev rules and an example config in place.

Files come from the installed package's data directory (<prefix>/share/modemd, from pyproject's data-files) or,
in a source checkout, from the repository. The unit's ExecStart is pointed at the modemd that runs this command
(a venv or pipx install is not /usr/local/bin). With --root the files go under another root and no system command
runs (for packaging and tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PLACES = {  # source (relative to the data dir) -> target (relative to the root), mode
    "systemd/modemd.service": ("etc/systemd/system/modemd.service", 0o644),
    "systemd/modemd.sysusers": ("etc/sysusers.d/modemd.conf", 0o644),
    "udev/70-modemd.rules": ("etc/udev/rules.d/70-modemd.rules", 0o644),
}
EXAMPLE_CONFIG = ("modemd.example.toml", "etc/modemd/modemd.toml", 0o640)
DEFAULT_EXEC = "/usr/local/bin/modemd"


@dataclass(frozen=True)
class Step:
    text: str
    command: tuple[str, ...] = ()


def data_dir() -> Path:
    """Where the unit, rules and example config are: the installed share dir, else the source checkout."""
    for candidate in (Path(sys.prefix) / "share" / "modemd", Path(__file__).resolve().parent.parent):
        if (candidate / "systemd" / "modemd.service").is_file():
            return candidate
    raise FileNotFoundError("modemd's systemd/udev files are not installed (reinstall the package)")


def executable() -> str:
    found = shutil.which("modemd")
    return str(Path(found).resolve()) if found else f"{sys.executable} -m modemd"


def install(root: Path = Path("/"), *, run_commands: bool = True, enable: bool = False) -> list[Step]:
    source = data_dir()
    steps: list[Step] = []
    for src, (dst, mode) in PLACES.items():
        text = (source / src).read_text(encoding="utf-8")
        if src.endswith(".service"):
            text = text.replace(DEFAULT_EXEC, executable())
        _write(root / dst, text, mode)
        steps.append(Step(f"wrote /{dst}"))
    config = root / EXAMPLE_CONFIG[1]
    if not config.exists():
        _write(config, (source / EXAMPLE_CONFIG[0]).read_text(encoding="utf-8"), EXAMPLE_CONFIG[2])
        steps.append(Step(f"wrote /{EXAMPLE_CONFIG[1]} (the example: edit the modems section)"))
    else:
        steps.append(Step(f"kept the existing /{EXAMPLE_CONFIG[1]}"))
    steps += _system_steps(enable)
    if run_commands and root == Path("/"):
        for step in steps:
            if step.command:
                subprocess.run(step.command, check=True)
    return steps


def _system_steps(enable: bool) -> list[Step]:
    steps = [Step("create the modemd system user", ("systemd-sysusers", "/etc/sysusers.d/modemd.conf")),
             Step("load the udev rules", ("udevadm", "control", "--reload")),
             Step("apply them to plugged-in serial ports", ("udevadm", "trigger", "--subsystem-match=tty")),
             Step("make systemd read the unit", ("systemctl", "daemon-reload"))]
    if enable:
        steps.append(Step("enable and start modemd", ("systemctl", "enable", "--now", "modemd.service")))
    return steps


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
