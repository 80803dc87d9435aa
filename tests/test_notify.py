"""sd_notify against a real AF_UNIX datagram socket (a path socket and an abstract one), as systemd's would be.

The watchdog's cadence is checked by order, not by the clock: its pauses are recorded (the interval it asks for)
with the number of pings that had arrived before each, so "a ping, then a pause of WatchdogSec/2" is seen exactly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
import time
import types
import uuid

import pytest

import modemd.daemon.notify
from kit import NotifySocket, until
from modemd.daemon.notify import Notifier, monotonic_usec, socket_address, watchdog_interval


def short_dir(tmp_path) -> str:
    """tmp_path, unless it is too long for sun_path (108 bytes with the NUL) on a deep CI workspace."""
    if len(str(tmp_path)) < 80:
        return str(tmp_path)
    return tempfile.mkdtemp(prefix="nt")


@pytest.fixture(params=["path", "abstract"])
def receiver(request, tmp_path):
    if request.param == "path":
        address: str | bytes = os.path.join(short_dir(tmp_path), "notify.sock")
    else:
        address = b"\0modemd-test-" + uuid.uuid4().hex.encode()
    rx = NotifySocket(address)
    yield rx
    rx.close()


@pytest.fixture
def path_receiver(tmp_path):
    rx = NotifySocket(os.path.join(short_dir(tmp_path), "notify.sock"))
    yield rx
    rx.close()


# --- addresses and environment ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    (None, None),
    ("", None),
    ("/run/systemd/notify", "/run/systemd/notify"),
    ("@/org/freedesktop/systemd1/notify/123", b"\0/org/freedesktop/systemd1/notify/123"),
    ("relative/path", None),
])
def test_socket_address(name, expected):
    assert socket_address(name) == expected


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "4242"}, 0.1),
    ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "4243"}, None),      # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
])
def test_watchdog_interval(env, expected):
    assert watchdog_interval(env, pid=4242) == expected


def test_from_environment_honours_watchdog_pid_of_this_process(monkeypatch, path_receiver):
    monkeypatch.setenv("NOTIFY_SOCKET", path_receiver.env_name)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    n = Notifier.from_environment()
    assert n.enabled and n.watchdog_interval == pytest.approx(0.1)
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert not Notifier.from_environment().watchdog_enabled


def test_from_environment_can_unset_the_variables(monkeypatch, path_receiver):
    monkeypatch.setenv("NOTIFY_SOCKET", path_receiver.env_name)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    n = Notifier.from_environment(unset=True)
    assert n.enabled and n.watchdog_enabled
    assert not {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} & set(os.environ)
    n.ready()
    assert path_receiver.drain() == [b"READY=1"]     # sendto() has queued it here by the time it returns
    n.close()


# --- the datagrams --------------------------------------------------------------------------------------------------

def test_exact_datagrams(receiver):
    n = Notifier(receiver.env_name)
    assert n.enabled
    assert n.ready()
    assert n.status("2 modems, 14 queued")
    assert n.ready("1 modem ready")
    assert n.status("line one\nline two")
    assert n.stopping()
    assert n.reloaded()
    assert n.watchdog()
    assert n.extend_timeout(1.5)
    assert receiver.drain() == [
        b"READY=1",
        b"STATUS=2 modems, 14 queued",
        b"READY=1\nSTATUS=1 modem ready",
        b"STATUS=line one line two",          # a newline would start another assignment
        b"STOPPING=1",
        b"READY=1",
        b"WATCHDOG=1",
        b"EXTEND_TIMEOUT_USEC=1500000",
    ]
    n.close()


def test_reloading_carries_monotonic_usec(receiver):
    n = Notifier(receiver.env_name)
    before = monotonic_usec()
    assert n.reloading("reloading configuration")
    after = monotonic_usec()
    [payload] = receiver.drain()
    m = re.fullmatch(rb"RELOADING=1\nMONOTONIC_USEC=(\d+)\nSTATUS=reloading configuration", payload)
    assert m, payload
    assert before <= int(m.group(1)) <= after
    n.close()


def test_noop_without_notify_socket(monkeypatch):
    for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(var, raising=False)
    n = Notifier.from_environment()
    assert not n.enabled and not n.watchdog_enabled
    assert not any([n.ready(), n.status("x"), n.stopping(), n.reloading(), n.reloaded(), n.watchdog()])
    # The watchdog task returns at once instead of looping: it never pauses for a next ping.
    pauses = Pauses(None, stop_after=0)
    monkeypatch.setattr(modemd.daemon.notify, "asyncio", pauses.module)
    asyncio.run(n.run_watchdog())
    assert pauses.asked == []


def test_watchdog_usec_without_socket_is_not_enabled():
    assert not Notifier(None, 0.1).watchdog_enabled


def test_unreachable_socket_warns_once_and_never_raises(tmp_path, caplog):
    n = Notifier(str(tmp_path / "nobody-listens"))
    with caplog.at_level(logging.WARNING, logger="modemd.daemon.notify"):
        assert n.ready() is False
        assert n.watchdog() is False
    assert len([r for r in caplog.records if "sd_notify" in r.getMessage()]) == 1
    n.close()


# --- the watchdog ---------------------------------------------------------------------------------------------------

class Pauses:
    """Stands in for the asyncio module the watchdog sleeps with: each pause is recorded as (the seconds asked
    for, the pings received by then) and returns at once; after `stop_after` pauses the watchdog is held there
    (until cancelled) and `done` is set."""

    def __init__(self, receiver, stop_after: int):
        self.receiver, self.stop_after = receiver, stop_after
        self.asked: list[tuple[float, int]] = []
        self.done = asyncio.Event() if stop_after else None
        self.module = types.SimpleNamespace(sleep=self.sleep)

    async def sleep(self, seconds: float) -> None:
        if self.done is None:
            raise AssertionError("the watchdog paused, so it loops")
        self.asked.append((seconds, len(self.receiver.drain())))
        if len(self.asked) >= self.stop_after:
            self.done.set()
            await asyncio.Event().wait()
        await asyncio.sleep(0)


async def paced(notifier: Notifier, monkeypatch, receiver, rounds: int, healthy=None) -> list[tuple[float, int]]:
    """Run the watchdog for `rounds` pauses; what each pause asked for and the pings before it."""
    pauses = Pauses(receiver, stop_after=rounds)
    monkeypatch.setattr(modemd.daemon.notify, "asyncio", pauses.module)
    task = asyncio.create_task(notifier.run_watchdog(healthy))
    await until(pauses.done.is_set)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return pauses.asked


async def test_watchdog_cadence_is_half_of_watchdog_usec(receiver, monkeypatch):
    n = Notifier(receiver.env_name, watchdog_interval({"WATCHDOG_USEC": "200000"}))
    assert n.watchdog_interval == pytest.approx(0.1)
    asked = await paced(n, monkeypatch, receiver, 5)
    # A ping at once, then a pause of WatchdogSec/2 and a ping, again and again: one ping before each pause.
    assert asked == [(pytest.approx(0.1), k) for k in range(1, 6)]
    assert receiver.drain() == [b"WATCHDOG=1"] * 5
    n.close()


async def test_blocked_loop_delays_pings(path_receiver):
    n = Notifier(path_receiver.env_name, 0.1)
    task = asyncio.create_task(n.run_watchdog())
    await until(lambda: len(path_receiver.drain()) >= 2)
    # A synchronous call that hangs the loop (a stuck read, a busy loop) for six intervals: nothing else on the
    # loop runs. Every ping sent before it is queued at the socket already (sendto() returned), so what is queued
    # at its end was sent during it: a ping thread would have sent some.
    before = len(path_receiver.drain())
    time.sleep(0.6)
    during = len(path_receiver.drain()) - before
    await until(lambda: len(path_receiver.drain()) > before + during)       # pinging resumes once the loop runs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert during == 0
    n.close()


async def test_health_check_withholds_pings(path_receiver, caplog, monkeypatch):
    n = Notifier(path_receiver.env_name, 0.05)
    checks = []

    def healthy() -> bool:
        checks.append(len(checks) < 3)            # healthy three times, then not any more
        return checks[-1]

    with caplog.at_level(logging.WARNING, logger="modemd.daemon.notify"):
        asked = await paced(n, monkeypatch, path_receiver, 6, healthy)
    # A ping after each of the three healthy checks, none after the check turned False.
    assert [pings for _, pings in asked] == [1, 2, 3, 3, 3, 3] and len(checks) == 6
    assert path_receiver.drain() == [b"WATCHDOG=1"] * 3
    assert sum("health check failed" in r.getMessage() for r in caplog.records) == 1   # logged on the change
    n.close()


async def test_health_check_that_raises_counts_as_unhealthy(path_receiver, monkeypatch):
    n = Notifier(path_receiver.env_name, 0.05)

    def broken() -> bool:
        raise RuntimeError("boom")

    await paced(n, monkeypatch, path_receiver, 4, healthy=broken)
    assert path_receiver.drain() == []
    n.close()
