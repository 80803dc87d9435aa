"""sd_notify against a real AF_UNIX datagram socket (a path socket and an abstract one), as systemd's would be.

A thread receives and timestamps the datagrams, so arrival times are measured independently of the event loop that
sends them (that is what the blocked-loop test needs).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import tempfile
import threading
import time
import uuid

import pytest

from modemd.daemon.notify import Notifier, monotonic_usec, socket_address, watchdog_interval


class Receiver:
    """Plays systemd's notify socket: binds a datagram socket and records (monotonic time, payload)."""

    def __init__(self, address: str | bytes):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.02)
        self.received: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def env_name(self) -> str:
        """The address as it appears in $NOTIFY_SOCKET."""
        if isinstance(self.address, bytes):
            return "@" + self.address[1:].decode()
        return self.address

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.received.append((time.monotonic(), data))

    def payloads(self) -> list[bytes]:
        return [data for _, data in self.received]

    def wait_for(self, count: int, timeout: float = 2.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.payloads()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


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
    rx = Receiver(address)
    yield rx
    rx.close()


@pytest.fixture
def path_receiver(tmp_path):
    rx = Receiver(os.path.join(short_dir(tmp_path), "notify.sock"))
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
    assert path_receiver.wait_for(1) == [b"READY=1"]
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
    assert receiver.wait_for(8) == [
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
    [payload] = receiver.wait_for(1)
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
    # The watchdog task returns at once instead of looping.
    asyncio.run(asyncio.wait_for(n.run_watchdog(), 1.0))


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

async def run_for(notifier: Notifier, seconds: float, healthy=None) -> None:
    task = asyncio.create_task(notifier.run_watchdog(healthy))
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


async def test_watchdog_cadence_is_half_of_watchdog_usec(receiver):
    n = Notifier(receiver.env_name, watchdog_interval({"WATCHDOG_USEC": "200000"}))
    assert n.watchdog_interval == pytest.approx(0.1)
    await run_for(n, 0.55)
    time.sleep(0.05)
    assert set(receiver.payloads()) == {b"WATCHDOG=1"}
    times = [t for t, _ in receiver.received]
    assert 5 <= len(times) <= 7, times          # a ping at once, then at 0.1, 0.2, ... 0.5
    assert all(0.07 <= g <= 0.2 for g in gaps(times)), gaps(times)
    n.close()


async def test_blocked_loop_delays_pings(path_receiver):
    n = Notifier(path_receiver.env_name, 0.1)
    window: dict[str, float] = {}

    def block() -> None:
        # A synchronous call that hangs the loop (a stuck read, a busy loop): nothing else on the loop runs.
        window["start"] = time.monotonic()
        time.sleep(0.6)
        window["end"] = time.monotonic()

    asyncio.get_running_loop().call_later(0.25, block)
    await run_for(n, 1.1)
    time.sleep(0.05)
    times = [t for t, _ in path_receiver.received]
    assert max(gaps(times)) >= 0.55, gaps(times)
    # No ping arrived while the loop was blocked (a ping thread would have kept sending).
    assert not [t for t in times if window["start"] + 0.02 < t < window["end"]], (window, times)
    # Pinging resumes once the loop runs again.
    assert [t for t in times if t > window["end"]]
    n.close()


async def test_health_check_withholds_pings(path_receiver, caplog):
    n = Notifier(path_receiver.env_name, 0.05)
    state = {"ok": True}
    asyncio.get_running_loop().call_later(0.12, state.update, {"ok": False})
    with caplog.at_level(logging.WARNING, logger="modemd.daemon.notify"):
        await run_for(n, 0.5, healthy=lambda: state["ok"])
    time.sleep(0.05)
    times = [t for t, _ in path_receiver.received]
    assert 2 <= len(times) <= 4, times            # pings at 0, 0.05, 0.10; none after the check turned False
    assert times[-1] - times[0] < 0.2
    assert sum("health check failed" in r.getMessage() for r in caplog.records) == 1   # logged on the change
    n.close()


async def test_health_check_that_raises_counts_as_unhealthy(path_receiver):
    n = Notifier(path_receiver.env_name, 0.05)

    def broken() -> bool:
        raise RuntimeError("boom")

    await run_for(n, 0.2, healthy=broken)
    time.sleep(0.05)
    assert path_receiver.payloads() == []
    n.close()
