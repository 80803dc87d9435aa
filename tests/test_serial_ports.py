"""Opening serial ports: a port is held exclusively (another holder gets "in use by another process", and is
never written to), an open that fails says why (no such device, not a serial port, permission denied, in use), and
the supervisor logs a port it cannot open once, at once, and again only when the reason changes.

Real ptys throughout: the in-process simulated modem, or os.openpty() for a port nobody answers on."""

from __future__ import annotations

import argparse
import errno
import fcntl
import logging
import os
import select
import subprocess
import sys
import termios

import pytest
import serial

from modemd.config.model import ModemConfig
from modemd.at import port_check as at_port_check
from modemd.modem import supervisor
from modemd.at.channel import AtChannel
from modemd.at.port_check import DENIED, IN_USE, MISSING, NOT_A_TTY, PortUnavailable, explain_open_error
from modemd.cli.oneshot import EXIT_UNAVAILABLE, probe_ports, send_once
from modemd.modem.supervisor import ModemSupervisor

from kit import until

pytestmark = pytest.mark.timeout(30)

# A process that holds a port the way picocom does (flock LOCK_EX), until its stdin closes.
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.read()
"""



@pytest.fixture
def silent_pty(tmp_path):
    """A pty whose other end the test reads: whatever a client writes to the port shows up on `master`."""
    master, slave = os.openpty()
    link = tmp_path / "ttyUSB1"
    link.symlink_to(os.ttyname(slave))
    yield str(link), master
    os.close(master)
    os.close(slave)


@pytest.fixture
def holder():
    """Start another process holding a port; yields a function path -> Popen."""
    procs = []

    def hold(path: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield hold
    for proc in procs:
        proc.stdin.close()
        proc.wait(5)


def nothing_written(master: int) -> bool:
    return select.select([master], [], [], 0)[0] == []


# ---- exclusive open ---------------------------------------------------------------------------------------------

async def test_a_second_open_of_a_held_port_is_refused_and_the_first_keeps_working(sim):
    first, second = AtChannel(sim.port), AtChannel(sim.port)
    await first.open()
    try:
        with pytest.raises(PortUnavailable) as refused:
            await second.open()
        assert refused.value.reason == IN_USE
        assert str(refused.value).startswith("in use by another process")
        assert f"pid {os.getpid()}" in str(refused.value)           # found in /proc/locks
        assert await first.command("AT") == []                       # the holder was not disturbed
    finally:
        await first.close()
    await second.open()                                               # closing released the lock
    assert await second.command("AT") == []
    await second.close()


async def test_a_port_another_process_locked_is_refused_with_its_pid(sim, holder):
    proc = holder(sim.pts)                     # locked under its /dev/pts name, opened through the symlink
    with pytest.raises(PortUnavailable) as refused:
        await AtChannel(sim.port).open()
    assert refused.value.reason == IN_USE
    assert f"pid {proc.pid} python" in str(refused.value)


async def test_a_stale_uucp_lock_file_is_ignored_and_a_live_one_refuses(sim, tmp_path, monkeypatch):
    monkeypatch.setattr(at_port_check, "UUCP_LOCK_DIRS", (str(tmp_path),))
    lock = tmp_path / "LCK..ttyUSB2"                 # minicom names it after the name it was given
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    lock.write_text(f"{dead.pid:10d}\n")
    channel = AtChannel(sim.port)
    await channel.open()
    await channel.close()

    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        lock.write_text(f"{alive.pid:10d}\n")
        with pytest.raises(PortUnavailable) as refused:
            await channel.open()
        assert refused.value.reason == IN_USE
        assert f"pid {alive.pid}" in str(refused.value) and str(lock) in str(refused.value)
    finally:
        alive.stdin.close()
        alive.wait(5)


# ---- probe and sendsms ------------------------------------------------------------------------------------------

async def test_probe_does_not_talk_to_a_port_another_process_holds(silent_pty, holder):
    port, master = silent_pty
    proc = holder(port)
    [report] = await probe_ports([port], baudrate=115200, rtscts=False, timeout=1.0)
    assert report["answers_at"] is False
    assert report["unavailable"] == IN_USE
    assert report["error"].startswith("in use by another process") and f"pid {proc.pid}" in report["error"]
    assert nothing_written(master)              # not even an "AT": the holder's conversation is untouched


async def test_probe_of_a_free_silent_port_still_asks(silent_pty):
    """The other side of the test above: unheld, the same port is written to (so that test proves something)."""
    port, master = silent_pty
    [report] = await probe_ports([port], baudrate=115200, rtscts=False, timeout=0.3)
    assert report["answers_at"] is False and "unavailable" not in report
    assert b"AT" in os.read(master, 4096)


async def test_sendsms_refuses_a_held_port_without_writing(silent_pty, holder, capsys):
    port, master = silent_pty
    holder(port)
    args = argparse.Namespace(to="+4915112345678", port=port, baud=115200, rtscts=False, registration_timeout=5.0,
                              no_report=False, validity=None)
    assert await send_once(args, "hi", None) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert f"cannot open {port}: in use by another process" in err
    assert nothing_written(master)


async def test_probe_says_why_a_path_cannot_be_a_modem(tmp_path):
    (tmp_path / "file").write_text("")
    missing, directory, regular = str(tmp_path / "nonexistent"), str(tmp_path), str(tmp_path / "file")
    dangling = tmp_path / "by-id-link"
    dangling.symlink_to(tmp_path / "ttyUSB9")        # a /dev/serial/by-id link after the modem was unplugged
    reports = await probe_ports([missing, str(dangling), directory, regular, "/dev/null"],
                                baudrate=115200, rtscts=False, timeout=0.3)
    assert [r["unavailable"] for r in reports] == [MISSING, MISSING, NOT_A_TTY, NOT_A_TTY, NOT_A_TTY]
    assert reports[0]["error"].startswith("no such device")
    assert reports[2]["error"] == "not a serial port: a directory"
    assert reports[3]["error"] == "not a serial port: a regular file"
    assert reports[4]["error"] == "not a serial port: a device that is not a tty"
    assert not any(r["answers_at"] for r in reports)


@pytest.mark.skipif(os.geteuid() == 0, reason="root opens any device node regardless of its mode")
async def test_probe_of_a_port_without_permission_says_so(silent_pty):
    port, _ = silent_pty
    os.chmod(os.path.realpath(port), 0)
    [report] = await probe_ports([port], baudrate=115200, rtscts=False, timeout=0.3)
    assert report["unavailable"] == DENIED
    assert report["error"].startswith("permission denied") and "usermod -aG" in report["error"]


def test_permission_and_busy_errors_from_pyserial_are_explained(tmp_path):
    """What pyserial raises for EACCES (no group access) and EBUSY (TIOCEXCL, e.g. ModemManager holds the port);
    a root test run cannot provoke either on a real device."""
    path = str(tmp_path / "ttyUSB0")
    denied = explain_open_error(path, serial.SerialException(errno.EACCES, "could not open port: Permission denied"))
    assert denied.reason == DENIED and "group" in str(denied) and "usermod -aG" in str(denied)
    busy = explain_open_error(path, serial.SerialException(errno.EBUSY, "could not open port: busy"))
    assert busy.reason == IN_USE and str(busy).startswith("in use by another process")
    gone = explain_open_error(path, serial.SerialException(errno.ENODEV, "could not open port: No such device"))
    assert gone.reason == MISSING


async def test_tiocexcl_is_not_left_on_a_pty(sim):
    """Our TIOCEXCL is kept off ptys: the simulator holds the slave open, so a flag left by a killed modemd would
    refuse every non-root reopen. TIOCGEXCL reads the flag back."""
    channel = AtChannel(sim.port)
    await channel.open()
    try:
        fd = os.open(sim.pts, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            flag = fcntl.ioctl(fd, getattr(termios, "TIOCGEXCL", 0x80045440), b"\0\0\0\0")
        finally:
            os.close(fd)
        assert int.from_bytes(flag, sys.byteorder) == 0
    finally:
        await channel.close()


# ---- supervisor logging -----------------------------------------------------------------------------------------

def records(caplog, level: int, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "modemd.modem.supervisor" and r.levelno == level
            and text in r.getMessage()]


async def test_supervisor_warns_once_per_reason_and_says_when_the_port_is_back(sim, tmp_path, caplog,
                                                                               monkeypatch):
    monkeypatch.setattr(supervisor, "REOPEN_DELAYS", (0.01,))
    caplog.set_level(logging.DEBUG, logger="modemd.modem.supervisor")
    port = tmp_path / "modem0"                            # the configured path, not there yet
    sup = ModemSupervisor(ModemConfig("modem0", str(port), registration_timeout=5.0))
    sup.start()
    try:
        # At once, not after 45 s, and with the reason.
        await until(lambda: records(caplog, logging.WARNING, "cannot open port"))
        [missing] = records(caplog, logging.WARNING, "cannot open port")
        assert f"cannot open port {port}: no such device" in missing.getMessage()
        assert "retrying every" in missing.getMessage()
        await until(lambda: len(records(caplog, logging.DEBUG, "still cannot open")) >= 5)
        assert len(records(caplog, logging.WARNING, "cannot open port")) == 1     # retries stay at DEBUG
        assert "no such device" in sup.modem.status.last_error

        port.write_text("")                               # a changed reason is logged again
        await until(lambda: records(caplog, logging.WARNING, "not a serial port"))

        fd = os.open(sim.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # the test holds the modem's port, like picocom would
        try:
            port.unlink()
            port.symlink_to(sim.port)
            await until(lambda: records(caplog, logging.WARNING, "in use by another process"))
            assert f"pid {os.getpid()}" in records(caplog, logging.WARNING, "in use by another process")[0].getMessage()
        finally:
            os.close(fd)                                  # released: the supervisor gets the port
        await until(lambda: records(caplog, logging.INFO, "is back"))
        await until(lambda: sup.modem.can_send)
        assert len(records(caplog, logging.WARNING, "cannot open port")) == 3
    finally:
        await sup.stop()


async def test_supervisor_warns_once_while_an_unplugged_modem_is_away(sim, caplog, monkeypatch):
    monkeypatch.setattr(supervisor, "REOPEN_DELAYS", (0.01,))
    caplog.set_level(logging.DEBUG, logger="modemd.modem.supervisor")
    sup = ModemSupervisor(ModemConfig("modem0", sim.port, registration_timeout=5.0))
    sup.start()
    try:
        await until(lambda: sup.modem.can_send)
        await sim.vanish()
        await until(lambda: len(records(caplog, logging.DEBUG, "still cannot open")) >= 5)
        [warning] = records(caplog, logging.WARNING, "cannot open port")
        assert "no such device" in warning.getMessage()
        await sim.reappear()
        await until(lambda: records(caplog, logging.INFO, "is back"))
        await until(lambda: sup.modem.can_send)
    finally:
        await sup.stop()
