"""Discovery (modem/discovery.py, port_probe.py) against real ptys: simulated modems with distinct IMEIs, a pty
that never answers, a port another process holds with flock, a by-id link and the node it names, a modem with two
AT ports; and the identity check of a bring-up (modem.py)."""

from __future__ import annotations

import fcntl
import os
import tty
from dataclasses import replace

import pytest

from kit import until
from modemd.at.channel import AtChannel
from modemd.config.model import DiscoveryConfig, ModemConfig
from modemd.modem import discovery as discovery_module
from modemd.modem.discovery import Discovery, candidate_ports
from modemd.modem.modem import Modem
from modemd.modem.state import IdentityMismatch, identity_text
from modemd.modem.supervisor import ModemSupervisor
from modemd.simulator import SimulatedModem
from modemd.simulator.profile import DEFAULT_PROFILE

IMEI_A, IMEI_B = "866758040000011", "866758040000029"
ICCID_A, ICCID_B = "89490200001111111111", "89490200002222222222"


@pytest.fixture
async def two_modems(tmp_path):
    modems = []
    for name, imei, iccid in (("ttyUSB2", IMEI_A, ICCID_A), ("ttyUSB5", IMEI_B, ICCID_B)):
        modem = SimulatedModem(link=str(tmp_path / name), profile=replace(DEFAULT_PROFILE, imei=imei, iccid=iccid))
        await modem.start()
        modems.append(modem)
    yield modems
    for modem in modems:
        await modem.stop()


@pytest.fixture
def silent_pty(tmp_path):
    """A tty nobody answers on (a GPS port, a console): its master is ours, to see what was written to it."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    os.symlink(os.ttyname(slave), tmp_path / "ttyUSB0")
    yield master
    os.close(master)
    os.close(slave)


def _discovery(tmp_path, supervisors=(), timeout=0.3) -> Discovery:
    return Discovery(DiscoveryConfig(paths=(str(tmp_path / "by-id" / "*"), str(tmp_path / "tty*")),
                                     probe_timeout=timeout), list(supervisors))


def _by_path(findings):
    return {os.path.basename(f.path): f for f in findings}


async def test_finds_each_modem_with_its_identity_and_a_silent_port_is_not_a_modem(tmp_path, two_modems,
                                                                                  silent_pty):
    found = _by_path(await _discovery(tmp_path).scan())
    assert found["ttyUSB2"].status == "modem" and found["ttyUSB2"].imei == IMEI_A
    assert found["ttyUSB2"].iccid == ICCID_A and found["ttyUSB2"].model == "EC25"
    assert found["ttyUSB5"].imei == IMEI_B and found["ttyUSB5"].imsi == DEFAULT_PROFILE.imsi
    assert found["ttyUSB0"].status == "not a modem"
    assert os.read(silent_pty, 100) == b"AT\r"      # asked "AT" and nothing else: no ESC, no ATZ


async def test_a_port_that_is_not_a_modem_is_not_probed_again_until_replugged(tmp_path, silent_pty, monkeypatch):
    probed = []
    real_probe = discovery_module.probe_port

    async def counting(path, realpath, timeout):
        probed.append(path)
        return await real_probe(path, realpath, timeout)
    monkeypatch.setattr(discovery_module, "probe_port", counting)
    discovery = _discovery(tmp_path)
    await discovery.scan()
    second = await discovery.scan()
    assert probed == [str(tmp_path / "ttyUSB0")]
    assert second[0].status == "not a modem"


async def test_a_by_id_link_and_its_node_are_one_port_shown_by_the_link(tmp_path, two_modems):
    (tmp_path / "by-id").mkdir()
    link = tmp_path / "by-id" / "usb-Quectel_EC25-if02-port0"
    os.symlink(two_modems[0].pts, link)
    os.symlink(two_modems[0].pts, tmp_path / "ttyUSB9")      # the same node under a kernel-style name
    ports = candidate_ports((str(tmp_path / "by-id" / "*"), str(tmp_path / "tty*")))
    paths = [p for p, _, _ in ports]
    assert paths.count(str(link)) == 1 and str(tmp_path / "ttyUSB9") not in paths
    assert len({real for _, real, _ in ports}) == len(ports) == 2


async def test_a_port_held_by_another_process_is_reported_and_left_alone(tmp_path, silent_pty):
    # flock belongs to an open file description: one opened here conflicts with the probe's open as another
    # process's would (the holder named is then this process).
    held = os.open(tmp_path / "ttyUSB0", os.O_RDWR | os.O_NOCTTY)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        [finding] = await _discovery(tmp_path).scan()
    finally:
        os.close(held)
    assert finding.status == "in use"
    assert f"pid {os.getpid()}" in finding.detail
    with pytest.raises(BlockingIOError):               # not one byte was written to it
        os.read(silent_pty, 100)


async def test_a_modem_answering_on_two_ports_is_used_through_the_first(tmp_path):
    profile = replace(DEFAULT_PROFILE, imei=IMEI_A)
    ports = [SimulatedModem(link=str(tmp_path / name), profile=profile) for name in ("ttyUSB10", "ttyUSB3")]
    for port in ports:
        await port.start()
    first, second = sorted([ports[0].pts, ports[1].pts], key=discovery_module.natural_key)
    try:
        found = _by_path(await _discovery(tmp_path).scan())
    finally:
        for port in ports:
            await port.stop()
    by_real = {f.realpath: f for f in found.values()}
    assert by_real[first].status == "modem"
    assert by_real[second].status == "another port of the same modem"


async def test_a_modem_named_by_identity_is_attached_where_it_is(tmp_path, two_modems):
    wants_b = ModemSupervisor(ModemConfig("b", "", imei=IMEI_B))
    wants_a = ModemSupervisor(ModemConfig("a", "", iccid=ICCID_A))
    assert wants_a.awaiting_port and wants_b.awaiting_port
    found = _by_path(await _discovery(tmp_path, [wants_a, wants_b]).scan())
    assert wants_a.port == str(tmp_path / "ttyUSB2") and wants_b.port == str(tmp_path / "ttyUSB5")
    assert not wants_a.awaiting_port
    assert (found["ttyUSB2"].status, found["ttyUSB2"].modem) == ("ours", "a")
    assert found["ttyUSB5"].modem == "b"


async def test_an_unknown_modem_is_not_attached_to_anyone(tmp_path, two_modems):
    nobody = ModemSupervisor(ModemConfig("c", "", imei="866758040000037"))
    found = await _discovery(tmp_path, [nobody]).scan()
    assert nobody.awaiting_port and nobody.port == ""
    assert {f.status for f in found} == {"modem"} and all(f.modem is None for f in found)


async def test_bring_up_refuses_another_modem_before_any_pin(tmp_path, two_modems):
    port = two_modems[0].port                               # IMEI_A's
    channel = AtChannel(port)
    modem = Modem(ModemConfig("b", port, imei=IMEI_B, pin="1234", registration_timeout=2.0), channel)
    await channel.open()
    try:
        with pytest.raises(IdentityMismatch) as caught:
            await modem.bring_up()
    finally:
        await channel.close()
    assert caught.value.found == {"imei": IMEI_A}
    assert "AT+CPIN=" not in str(two_modems[0].state())
    assert identity_text(caught.value.found) == "IMEI 86675804*****11"


async def test_supervisor_named_by_identity_follows_its_modem_to_another_path(tmp_path, two_modems):
    supervisor = ModemSupervisor(ModemConfig("a", "", imei=IMEI_A, registration_timeout=3.0))
    discovery = _discovery(tmp_path, [supervisor])
    supervisor.start()
    await discovery.start()
    try:
        await until(lambda: supervisor.modem.status.state.value == "ready", timeout=10)
        await two_modems[0].move(str(tmp_path / "ttyUSB7"))
        await until(lambda: supervisor.port.endswith("ttyUSB7") and supervisor.modem.can_send, timeout=10)
    finally:
        await discovery.stop()
        await supervisor.stop()


async def test_a_bring_up_that_finds_another_modem_releases_the_port_and_discovery_finds_the_right_one(
        tmp_path, two_modems, caplog):
    supervisor = ModemSupervisor(ModemConfig("b", "", imei=IMEI_B, registration_timeout=3.0))
    supervisor.attach(two_modems[0].port)                    # IMEI_A's port, as if a stale probe had said so
    discovery = _discovery(tmp_path, [supervisor])
    await discovery.start()
    supervisor.start()
    try:
        await until(lambda: supervisor.modem.can_send, timeout=10)
    finally:
        await discovery.stop()
        await supervisor.stop()
    assert supervisor.port == two_modems[1].port
    [warning] = [r.getMessage() for r in caplog.records if "is not this modem" in r.getMessage()]
    assert "expected IMEI 86675804*****29, found IMEI 86675804*****11" in warning
    assert IMEI_A not in caplog.text and IMEI_B not in caplog.text


async def test_a_modem_named_by_port_and_identity_is_not_used_where_another_modem_is(tmp_path, two_modems):
    both = ModemSupervisor(ModemConfig("b", two_modems[0].port, imei=IMEI_B))    # port: IMEI_A's
    mine = ModemSupervisor(ModemConfig("a", two_modems[0].port, imei=IMEI_A))
    await _discovery(tmp_path, [both, mine]).scan()
    assert both.port == two_modems[1].port and mine.port == two_modems[0].port
