"""The daemon as systemd runs it: sd_notify on a real datagram socket, watchdog pings, SIGHUP reload, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from conftest import DaemonProcess, TOKEN, wait_for


class NotifySocket:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.seen: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.seen

    def has(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for msg in self.drain() for line in msg.split("\n"))


def write_config(path, *, port, link, template="{code} is your code for {app}.", extra=""):
    path.write_text(f"""
[server]
listen = "127.0.0.1:{port}"

[auth]
tokens = ["{TOKEN}"]

[[modems]]
name = "ec25"
port = "{link}"

[otp]
app = "Acme"
template = "{template}"
{extra}
""")
    os.chmod(path, 0o600)


@pytest.fixture
def notify(tmp_path):
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.sock.close()


def start(tmp_path, free_port, notify, sim_process, *, watchdog_usec=None):
    config = tmp_path / "modemd.toml"
    write_config(config, port=free_port, link=sim_process.link)
    env = {"NOTIFY_SOCKET": notify.path}
    if watchdog_usec:
        env.update(WATCHDOG_USEC=str(watchdog_usec))
    os.environ.update(env)
    try:
        daemon = DaemonProcess(tmp_path, free_port, "--config", str(config))
    finally:
        for key in env:
            os.environ.pop(key)
    return daemon, config


def test_ready_status_and_stopping(tmp_path, free_port, notify, sim_process):
    daemon, _ = start(tmp_path, free_port, notify, sim_process)
    try:
        wait_for(lambda: notify.has("READY=1"), timeout=20)
        # READY comes once the API listens, without waiting for the modem; STATUS= follows the modem's bring-up.
        wait_for(lambda: notify.has("STATUS=1 modem(s) (1 ready)"), timeout=20)
        assert daemon.ready()
    finally:
        assert daemon.terminate() == 0
    assert notify.has("STOPPING=1")


def test_watchdog_pings_while_the_loop_runs(tmp_path, free_port, notify, sim_process):
    daemon, _ = start(tmp_path, free_port, notify, sim_process, watchdog_usec=400_000)
    try:
        wait_for(lambda: notify.has("READY=1"), timeout=20)
        before = sum("WATCHDOG=1" in m for m in notify.drain())
        time.sleep(1.0)
        after = sum("WATCHDOG=1" in m for m in notify.drain())
        assert after - before >= 3       # every WatchdogSec/2 = 0.2 s
    finally:
        daemon.terminate()


def test_sighup_reloads_and_refuses_a_broken_config(tmp_path, free_port, notify, sim_process):
    daemon, config = start(tmp_path, free_port, notify, sim_process)
    try:
        wait_for(lambda: notify.has("READY=1"), timeout=20)
        write_config(config, port=free_port, link=sim_process.link, template="{code} reloaded {app} code")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in daemon.output(), timeout=10)
        assert notify.has("RELOADING=1")
        status, _ = daemon.call("POST", "/v1/otp", {"to": "+4915112345678"})
        assert status == 202
        wait_for(lambda: sim_process.messages(), timeout=15)
        assert "reloaded Acme code" in sim_process.messages()[0]["text"]
        config.write_text(config.read_text() + "\n[otp]\nlenght = 6\n")     # a typo: refused, old config stays
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in daemon.output(), timeout=10)
        assert daemon.call("GET", "/v1/modems")[0] == 200
    finally:
        assert daemon.terminate() == 0
