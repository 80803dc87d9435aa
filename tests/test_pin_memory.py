"""A rejected SIM PIN is recorded on disk under the SIM's ICCID and not tried again, across restarts, until an admin
resets it or configures another PIN: the record itself, a "restart" against the simulated modem, `modemd pin reset`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import stat
from datetime import datetime, timezone

import pytest

from modemd.config.model import ModemConfig
from modemd.cli import pin as cli_pin
from modemd.at.channel import AtChannel
from modemd.domain.errors import SimLocked
from modemd.modem.modem import Modem, ModemState
from modemd.modem.pin_memory import FILE_NAME, PinMemory, PinMemoryUnreadable, sim_key
from modemd.domain.redact import mask_id
from modemd.simulator import SimulatedModem
from modemd.simulator.profile import DEFAULT_PROFILE

ICCID = "89490200001234567892"
SIM = f"iccid:{ICCID}"
WHEN = datetime(2024, 5, 17, 8, 30, tzinfo=timezone.utc)


@pytest.fixture
def memory(tmp_path) -> PinMemory:
    return PinMemory.in_dir(tmp_path / "state")


# ---- the record ------------------------------------------------------------------------------------------------
def test_a_recorded_pin_is_refused_and_another_pin_is_not(memory):
    assert memory.rejection(SIM, "1111") is None            # no file yet: nothing rejected
    memory.record(SIM, "modem0", "1111", now=WHEN)
    rejection = memory.rejection(SIM, "1111")
    assert rejection is not None and rejection.modem == "modem0" and rejection.at == "2024-05-17T08:30:00Z"
    assert memory.rejection(SIM, "2222") is None             # a new PIN in the config is tried
    assert memory.rejection("iccid:89490200009999999990", "1111") is None   # another SIM is another record


def test_every_rejected_pin_of_a_sim_is_kept(memory):
    """PIN A rejected, B rejected, back to A: trying A again would be the third wrong try (PUK)."""
    memory.record(SIM, "modem0", "1111")
    memory.record(SIM, "modem0", "2222")
    assert memory.rejection(SIM, "1111") and memory.rejection(SIM, "2222")


def test_success_forgets_the_sim(memory):
    memory.record(SIM, "modem0", "1111")
    assert memory.forget(SIM)
    assert memory.rejection(SIM, "1111") is None
    assert not memory.forget(SIM)


def test_the_refusal_names_the_masked_sim_the_date_and_the_fix(memory):
    text = memory.record(SIM, "modem0", "1111", now=WHEN).refusal()
    assert f"SIM {mask_id(ICCID, 7)}" in text and ICCID not in text
    assert "2024-05-17 08:30:00 UTC" in text
    assert "`modemd pin reset modem0`" in text


def test_the_file_is_private_and_holds_no_pin(memory):
    pin = "97531864"
    memory.record(SIM, "modem0", pin)
    assert stat.S_IMODE(memory.path.stat().st_mode) == 0o600
    text = memory.path.read_text()
    assert pin not in text
    assert json.loads(text)["sims"][SIM]["modem"] == "modem0"
    assert [p.name for p in memory.path.parent.iterdir()] == [FILE_NAME]   # no temporary file left behind


@pytest.mark.parametrize("content", ["{not json", "[]", '{"version": 99, "sims": {}}',
                                     '{"version": 1, "sims": {"iccid:1": {"modem": "m", "rejected": []}}}',
                                     '{"version": 1, "sims": {"iccid:1": {"modem": "m", "rejected": [{}]}}}'])
def test_an_unreadable_record_refuses_every_pin(memory, content):
    memory.path.parent.mkdir(parents=True)
    memory.path.write_text(content)
    with pytest.raises(PinMemoryUnreadable) as exc:
        memory.rejection(SIM, "2222")                       # even a PIN it never saw
    assert "modemd pin reset" in str(exc.value) and str(memory.path) in str(exc.value)


def test_reset_removes_one_modems_sims_or_all(memory):
    memory.record(SIM, "modem0", "1111")
    memory.record("modem:modem1", "modem1", "1111")
    assert [r.modem for r in memory.reset("modem1")] == ["modem1"]
    assert memory.rejection(SIM, "1111") and not memory.rejection("modem:modem1", "1111")
    assert [r.sim for r in memory.reset()] == [SIM]
    assert memory.reset() == []


def test_sim_key_falls_back_to_the_modem_name():
    assert sim_key(f' "{ICCID}" ', "modem0") == SIM
    assert sim_key("", "modem0") == "modem:modem0"


def test_mask_id_keeps_head_and_tail():
    assert mask_id("866758040123453", 8) == "86675804*****53"
    assert mask_id(ICCID, 7) == "8949020***********92"
    assert mask_id("12345", 7) == "*****" and mask_id("", 7) is None


# ---- a modem, a wrong PIN, a restart ---------------------------------------------------------------------------
@pytest.fixture
async def sim(tmp_path):
    modem = SimulatedModem(link=str(tmp_path / "ttyUSB2"), handset_path=str(tmp_path / "handset.jsonl"))
    modem.set_fault("pin", "4321")
    modem.set_fault("sim_state", "SIM PIN")
    await modem.start()
    yield modem
    await modem.stop()


async def _bring_up(sim, pin: str, memory: PinMemory) -> Modem:
    """One daemon run: a new channel and a new Modem, nothing kept in memory from the run before."""
    modems: list[Modem] = []
    channel = AtChannel(sim.port, on_urc=lambda urc: modems[0].handle_urc(urc))
    modems.append(Modem(ModemConfig("modem0", "pty", pin=pin, registration_timeout=5.0), channel, pin_memory=memory))
    await channel.open()
    try:
        await modems[0].bring_up()
    finally:
        await channel.close()
    return modems[0]


async def test_simulator_answers_the_iccid_while_the_sim_asks_for_its_pin(sim):
    channel = AtChannel(sim.port)
    await channel.open()
    try:
        for command in ("AT+CCID", "AT+QCCID"):
            assert await channel.command(command) == [f"{command[2:]}: {DEFAULT_PROFILE.iccid}"]
    finally:
        await channel.close()
    assert sim.state()["sim"] == "SIM PIN"


async def test_a_rejected_pin_is_not_sent_again_after_a_restart(sim, memory, caplog):
    with pytest.raises(SimLocked) as first:
        await _bring_up(sim, "0000", memory)
    assert first.value.permanent and sim.state()["pin_attempts"] == 2
    assert memory.rejection(f"iccid:{DEFAULT_PROFILE.iccid}", "0000") is not None

    with pytest.raises(SimLocked) as again:                  # a "restart": new Modem, same wrong PIN
        await _bring_up(sim, "0000", memory)
    assert again.value.permanent
    assert sim.state()["pin_attempts"] == 2                  # AT+CPIN was not sent: the SIM counted nothing
    assert f"rejected for SIM {mask_id(DEFAULT_PROFILE.iccid, 7)} on " in str(again.value)
    assert "modemd pin reset modem0" in str(again.value)

    caplog.set_level(logging.INFO, logger="modemd.modem.modem")
    modem = await _bring_up(sim, "4321", memory)             # the right PIN in the config: tried, and it opens
    assert modem.status.state is ModemState.READY and sim.state()["pin_attempts"] == 3
    assert memory.reset() == []                               # success removed the record
    up = [r.getMessage() for r in caplog.records if " up: " in r.getMessage()]
    assert up and DEFAULT_PROFILE.imei not in up[0] and mask_id(DEFAULT_PROFILE.imei, 8) in up[0]


async def test_the_refusal_is_the_modems_state_and_last_error(sim, memory):
    memory.record(f"iccid:{DEFAULT_PROFILE.iccid}", "modem0", "0000", now=WHEN)
    channel = AtChannel(sim.port)
    modem = Modem(ModemConfig("modem0", "pty", pin="0000", registration_timeout=5.0), channel, pin_memory=memory)
    await channel.open()
    try:
        with pytest.raises(SimLocked):
            await modem.bring_up()
    finally:
        await channel.close()
    assert modem.status.state is ModemState.SIM_LOCKED
    assert "2024-05-17 08:30:00 UTC" in modem.status.last_error
    assert sim.state()["pin_attempts"] == 3


async def test_an_unreadable_record_sends_no_pin_at_all(sim, memory):
    memory.path.parent.mkdir(parents=True)
    memory.path.write_text("{truncated")
    with pytest.raises(SimLocked) as exc:
        await _bring_up(sim, "4321", memory)                 # even the right PIN waits for an admin
    assert exc.value.permanent and "modemd pin reset" in str(exc.value)
    assert sim.state()["pin_attempts"] == 3 and sim.state()["sim"] == "SIM PIN"


# ---- modemd pin reset ------------------------------------------------------------------------------------------
def _pin_reset(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="modemd")
    cli_pin.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pin", "reset", *argv])
    return args.func(args)


def test_pin_reset_removes_the_named_modems_record(memory, capsys):
    memory.record(SIM, "modem0", "1111")
    memory.record("iccid:89490200009999999990", "modem1", "1111")
    assert _pin_reset("modem0", "--state-dir", str(memory.path.parent)) == 0
    out = capsys.readouterr().out
    assert f"SIM {mask_id(ICCID, 7)} in modem0" in out and "systemctl restart modemd" in out
    assert memory.rejection(SIM, "1111") is None
    assert memory.rejection("iccid:89490200009999999990", "1111") is not None


def test_pin_reset_with_nothing_recorded_is_fine(memory, capsys):
    assert _pin_reset("--state-dir", str(memory.path.parent)) == 0
    assert "nothing to reset" in capsys.readouterr().out


def test_pin_reset_finds_the_state_dir_in_the_config(memory, tmp_path, capsys):
    memory.record(SIM, "modem0", "1111")
    config = tmp_path / "modemd.toml"
    config.write_text(f'[server]\nstate_dir = "{memory.path.parent}"\n')
    assert _pin_reset("--config", str(config)) == 0
    assert "removed: " in capsys.readouterr().out and memory.reset() == []


def test_pin_reset_finds_the_system_state_dir(memory, tmp_path, monkeypatch, capsys):
    """Under systemd the record is in /var/lib/modemd, but an admin's shell has no $STATE_DIRECTORY."""
    memory.record(SIM, "modem0", "1111")
    config = tmp_path / "empty.toml"
    config.write_text("")
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setattr(cli_pin, "SYSTEM_STATE_DIR", memory.path.parent)
    assert _pin_reset("--config", str(config)) == 0
    assert memory.reset() == []


def test_pin_reset_removes_an_unreadable_record(memory, capsys):
    memory.path.parent.mkdir(parents=True)
    memory.path.write_text("{truncated")
    assert _pin_reset("modem0", "--state-dir", str(memory.path.parent)) == 0
    assert "unreadable" in capsys.readouterr().out and not memory.path.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can write a file for another user")
def test_root_writes_the_record_for_the_owner_of_the_state_dir(tmp_path):
    # `sudo modemd pin reset` in /var/lib/modemd (modemd:modemd 0700) must leave a record the service can read.
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 64999, 64998)
    memory = PinMemory.in_dir(state)
    memory.record("iccid:8949", "modem0", "1234")
    memory.record("iccid:8950", "modem1", "1234")
    memory.reset("modem0")
    st = os.stat(memory.path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (64999, 64998, 0o600)
