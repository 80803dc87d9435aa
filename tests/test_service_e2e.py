"""The daemon as systemd runs it: sd_notify on a real datagram socket, watchdog pings, SIGHUP reload, SIGTERM."""

from __future__ import annotations

import signal

import pytest

from kit import DaemonProcess, NotifySocket, config_toml, wait_for, write_config


def otp_config(link, template="{code} is your code for {app}.", extra=""):
    return config_toml(link=link, extra=f'[otp]\napp = "Acme"\ntemplate = "{template}"\n{extra}')


@pytest.fixture
def notify(tmp_path):
    sock = NotifySocket(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()


def start(tmp_path, free_port, notify, sim_process, *, watchdog_usec=None):
    config = write_config(tmp_path, otp_config(sim_process.link))
    env = {"NOTIFY_SOCKET": notify.env_name}
    if watchdog_usec:
        env.update(WATCHDOG_USEC=str(watchdog_usec))
    return DaemonProcess(tmp_path, free_port, "--config", str(config), env=env), config


def pings(notify) -> int:
    return sum(b"WATCHDOG=1" in m for m in notify.drain())


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
        before = pings(notify)
        wait_for(lambda: pings(notify) - before >= 3, timeout=10)      # every WatchdogSec/2 = 0.2 s, on and on
    finally:
        daemon.terminate()


def test_sighup_reloads_and_refuses_a_broken_config(tmp_path, free_port, notify, sim_process):
    daemon, config = start(tmp_path, free_port, notify, sim_process)
    try:
        wait_for(lambda: notify.has("READY=1"), timeout=20)
        write_config(tmp_path, otp_config(sim_process.link, template="{code} reloaded {app} code"))
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
