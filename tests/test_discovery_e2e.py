"""Modems named by identity, end to end: a real daemon and `modemd simulate` processes with their own IMEIs and
ICCIDs, ports found through [discovery] paths, replugged on other paths, swapped; a modem named by port back at
once after a long unplug; `modemd modems` listing what is found."""

from __future__ import annotations

import time

import pytest

from kit import TOKEN, SimProcess, run_modemd, running_daemon, wait_for

pytestmark = pytest.mark.e2e

TO = "+4915112345678"
A = {"imei": "866758040000011", "iccid": "89490200001111111111", "imsi": "262011111111111"}
B = {"imei": "866758040000029", "iccid": "89490200002222222222", "imsi": "262012222222222"}
C = {"imei": "866758040000037", "iccid": "89490200003333333333", "imsi": "262013333333333"}


def _config(dev, tables: str) -> str:
    return f'[discovery]\npaths = ["{dev}/tty*"]\nprobe_timeout = 0.5\n\n{tables}'


def _modems(daemon) -> dict[str, dict]:
    return {m["name"]: m for m in daemon.call("GET", "/v1/modems")[1]["data"]}


def _ready_on(daemon, name: str, path: str) -> bool:
    modem = _modems(daemon)[name]
    return modem["state"] == "ready" and modem["port"] == str(path)


def _send_reaches(daemon, sim: SimProcess, text: str) -> None:
    before = sim.handset_count()
    status, _ = daemon.call("POST", "/v1/messages", {"to": TO, "text": text})
    assert status == 202
    wait_for(lambda: sim.handset_count() > before, timeout=20)
    assert sim.messages()[-1]["text"] == text


@pytest.fixture
def dev(tmp_path):
    (tmp_path / "dev").mkdir()
    return tmp_path / "dev"


def test_a_modem_replugged_on_another_path_is_found_and_sends(tmp_path, dev, free_port):
    with SimProcess(tmp_path, "ttyUSB2", link=str(dev / "ttyUSB2"), **A) as sim, \
            running_daemon(tmp_path, port=free_port,
                           config=_config(dev, f'[[modems]]\nname = "a"\nimei = "{A["imei"]}"\n')) as daemon:
        wait_for(lambda: _ready_on(daemon, "a", dev / "ttyUSB2"), timeout=15)
        assert _modems(daemon)["a"]["imei"] == "86675804*****11"
        sim.control.request("move", link=str(dev / "ttyUSB7"), seconds=0.5)
        wait_for(lambda: _ready_on(daemon, "a", dev / "ttyUSB7"), timeout=15)
        _send_reaches(daemon, sim, "after the replug")


def test_two_modems_swapping_paths_keep_their_names(tmp_path, dev, free_port):
    tables = (f'[[modems]]\nname = "a"\nimei = "{A["imei"]}"\n\n'
              f'[[modems]]\nname = "b"\niccid = "{B["iccid"]}"\n')
    with SimProcess(tmp_path, "ttyUSB2", link=str(dev / "ttyUSB2"), **A) as sim_a, \
            SimProcess(tmp_path, "ttyUSB5", link=str(dev / "ttyUSB5"), **B) as sim_b, \
            SimProcess(tmp_path, "ttyUSB9", link=str(dev / "ttyUSB9"), **C), \
            running_daemon(tmp_path, port=free_port, config=_config(dev, tables), log_level="debug") as daemon:
        wait_for(lambda: _ready_on(daemon, "a", dev / "ttyUSB2") and _ready_on(daemon, "b", dev / "ttyUSB5"),
                 timeout=15)
        sim_a.control.request("vanish")
        sim_b.control.request("move", link=str(dev / "ttyUSB2"))
        sim_a.control.request("move", link=str(dev / "ttyUSB5"))
        wait_for(lambda: _ready_on(daemon, "a", dev / "ttyUSB5") and _ready_on(daemon, "b", dev / "ttyUSB2"),
                 timeout=15)
        modems = _modems(daemon)
        assert (modems["a"]["imei"], modems["b"]["imei"]) == ("86675804*****11", "86675804*****29")
        assert modems["b"]["iccid"] == "8949020***********22"
        for n in range(4):
            daemon.call("POST", "/v1/messages", {"to": TO, "text": f"after the swap {n}"})
        wait_for(lambda: sim_a.handset_count() + sim_b.handset_count() == 4, timeout=30)
        listing = run_modemd("modems", "--url", daemon.url, env={"MODEMD_TOKEN": TOKEN})
    assert listing.returncode == 0, listing.stderr
    assert f"{dev}/ttyUSB5" in listing.stdout and "modem 'a'" in listing.stdout
    assert "not configured" in listing.stdout
    assert f'iccid = "{C["iccid"]}"' in listing.stdout and "[[modems]]" in listing.stdout


def test_a_modem_named_by_port_is_back_at_once_after_a_long_unplug(tmp_path, free_port):
    with SimProcess(tmp_path, "ttyUSB2", **A) as sim, \
            running_daemon(tmp_path, port=free_port,
                           config=f'[[modems]]\nname = "p"\nport = "{sim.link}"\n', log_level="debug") as daemon:
        sim.control.request("vanish")
        wait_for(lambda: _modems(daemon)["p"]["state"] == "offline", timeout=10)
        # Unplugged until the backoff (1, 2, 5, 10 s) has reached its 30 s step (four failed reopens: one WARNING,
        # three "still cannot open"): without the hot-plug event the next reopen would come up to 30 s later.
        wait_for(lambda: daemon.output().count("still cannot open") >= 3, timeout=40)
        sim.control.request("reappear")
        back = time.monotonic()
        wait_for(lambda: _modems(daemon)["p"]["state"] == "ready", timeout=20, interval=0.05)
        assert time.monotonic() - back < 10
        _send_reaches(daemon, sim, "back from a long unplug")
