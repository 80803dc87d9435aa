"""`modemd install-service`: put the systemd unit, sysusers entry, udev rules and an example config in place.

Files come from the installed package's data directory (<prefix>/share/modemd, from pyproject's data-files) or,
in a source checkout, from the repository. The unit's ExecStart is pointed at the modemd that runs this command
(a venv under /opt is not /usr/local/bin), and refused when the sandbox would hide it: ProtectHome=yes hides /home,
/root and /run/user, PrivateTmp=yes gives the service its own /tmp and /var/tmp. With --root the files go under
another root and no system command runs (for packaging and tests).

The service runs as user modemd, so the config it reads is made root:modemd 0640 in a root:modemd 0750 directory
(systemd's ConfigurationDirectory= creates /etc/modemd but never hands it to User=).
"""

from __future__ import annotations

import grp
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
CONFIG_DIR_MODE = 0o750
SERVICE_GROUP = "modemd"
DEFAULT_EXEC = "/usr/local/bin/modemd"
DEFAULT_DOC = "file:///opt/modemd/share/modemd/README.md"
# What the unit's sandbox hides from the service (systemd.exec(5): ProtectHome=yes, PrivateTmp=yes).
HIDDEN = (Path("/home"), Path("/root"), Path("/run/user"), Path("/tmp"), Path("/var/tmp"))


class InstallError(Exception):
    """Something the admin must change before the service can work; the message says what."""


@dataclass(frozen=True)
class Step:
    text: str
    command: tuple[str, ...] = ()
    optional: bool = False      # a failure is reported and the install goes on (udevd absent in a container)


def data_dir() -> Path:
    """Where the unit, rules and example config are: the installed share dir, else the source checkout."""
    for candidate in (Path(sys.prefix) / "share" / "modemd", Path(__file__).resolve().parents[2]):
        if (candidate / "systemd" / "modemd.service").is_file():
            return candidate
    raise FileNotFoundError("modemd's systemd/udev files are not installed (reinstall the package)")


def executable() -> str:
    found = shutil.which("modemd")
    return str(Path(found).resolve()) if found else f"{sys.executable} -m modemd"


def hidden_from_service(path: str) -> Path | None:
    """The sandboxed directory that hides this path from the service, if any (path resolved through links)."""
    resolved = Path(path).resolve()
    return next((top for top in HIDDEN if resolved == top or top in resolved.parents), None)


def check_executable(command: str) -> None:
    """Refuse an ExecStart the service could not run: the program, or the interpreter its #! line names."""
    program = command.split()[0]
    for path in (program, *_interpreter(program)):
        top = hidden_from_service(path)
        if top is not None:
            raise InstallError(
                f"the service could not run {program}: {path} is under {top}, which the unit's sandbox hides "
                f"(ProtectHome=yes / PrivateTmp=yes). Install modemd where a service can run it, e.g. "
                f"python3 -m venv /opt/modemd && /opt/modemd/bin/pip install -c requirements/runtime.txt . && "
                f"ln -s /opt/modemd/bin/modemd /usr/local/bin/modemd (README \"Install on a server\"), then run "
                f"/opt/modemd/bin/modemd install-service")


def _interpreter(program: str) -> list[str]:
    try:
        with open(program, "rb") as f:
            first = f.readline(512)
    except OSError:
        return []
    return [first[2:].decode(errors="replace").split()[0]] if first.startswith(b"#!") and first[2:].split() else []


def install(root: Path = Path("/"), *, run_commands: bool = True, enable: bool = False,
            exec_start: str | None = None) -> list[Step]:
    exec_start = exec_start or executable()
    check_executable(exec_start)
    source = data_dir()
    steps: list[Step] = []
    for src, (dst, mode) in PLACES.items():
        text = (source / src).read_text(encoding="utf-8")
        if src.endswith(".service"):
            text = text.replace(DEFAULT_EXEC, exec_start).replace(DEFAULT_DOC, f"file://{source}/README.md")
        _write(root / dst, text, mode)
        steps.append(Step(f"wrote /{dst}"))
    steps.append(_config(root, source))
    steps += _system_steps(enable)
    if run_commands and root == Path("/"):
        return _run(steps)
    return steps + [Step(f"to do once the modemd group exists: chgrp {SERVICE_GROUP} /etc/modemd "
                         f"/{EXAMPLE_CONFIG[1]} && chmod 0750 /etc/modemd && chmod 0640 /{EXAMPLE_CONFIG[1]}")]


def _config(root: Path, source: Path) -> Step:
    config = root / EXAMPLE_CONFIG[1]
    if config.exists():
        return Step(f"kept the existing /{EXAMPLE_CONFIG[1]}")
    _write(config, (source / EXAMPLE_CONFIG[0]).read_text(encoding="utf-8"), EXAMPLE_CONFIG[2])
    return Step(f"wrote /{EXAMPLE_CONFIG[1]} (the example: edit the modems section)")


def _system_steps(enable: bool) -> list[Step]:
    steps = [Step("create the modemd system user", ("systemd-sysusers", "/etc/sysusers.d/modemd.conf")),
             Step("load the udev rules", ("udevadm", "control", "--reload"), optional=True),
             Step("apply them to plugged-in serial ports", ("udevadm", "trigger", "--subsystem-match=tty"),
                  optional=True),
             _systemctl("make systemd read the unit", "daemon-reload")]
    if enable:
        steps.append(_systemctl("enable and start modemd", "enable", "--now", "modemd.service"))
    return steps


def _systemctl(text: str, *args: str) -> Step:
    if Path("/run/systemd/system").is_dir():      # sd_booted(3): systemd is this machine's init
        return Step(text, ("systemctl", *args))
    return Step(f"to do once systemd runs this machine: systemctl {' '.join(args)} (it is not PID 1 here)")


def _run(steps: list[Step]) -> list[Step]:
    """Run the commands in order; the config's owner is set once sysusers made the group. Returns what was done."""
    done: list[Step] = []
    for step in steps:
        if step.command:
            done.append(_run_one(step))
        else:
            done.append(step)
        if step.command[:1] == ("systemd-sysusers",):
            done += give_config_to_service(Path("/"))
    return done


def _run_one(step: Step) -> Step:
    try:
        subprocess.run(step.command, check=True, capture_output=step.optional, text=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        if not step.optional:
            raise
        detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
        return Step(f"skipped: {' '.join(step.command)} ({detail[-1] if detail else 'failed'}); udevd is not "
                    f"running here (a container?): the rules are installed and apply when udevd runs")
    return step


def give_config_to_service(root: Path) -> list[Step]:
    """/etc/modemd root:modemd 0750, modemd.toml root:modemd 0640: readable by the service, not by other users.
    Also run on an existing config, whichever way it was made (an admin's `cp` leaves root:root 0600)."""
    try:
        gid = grp.getgrnam(SERVICE_GROUP).gr_gid
    except KeyError:
        raise InstallError(f"group {SERVICE_GROUP} does not exist after systemd-sysusers; "
                           f"create it (groupadd --system {SERVICE_GROUP}) and run install-service again") from None
    directory, config = root / "etc/modemd", root / EXAMPLE_CONFIG[1]
    os.chown(directory, 0, gid)
    os.chmod(directory, CONFIG_DIR_MODE)
    os.chown(config, 0, gid)
    os.chmod(config, EXAMPLE_CONFIG[2])
    return [Step(f"made /etc/modemd root:{SERVICE_GROUP} 0750 and /{EXAMPLE_CONFIG[1]} root:{SERVICE_GROUP} 0640 "
                 f"(the service reads it as user {SERVICE_GROUP})")]


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
