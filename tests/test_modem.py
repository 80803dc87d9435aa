"""Modem bring-up and SMS sending, through the real AtChannel, against the simulated modem on a real pty."""

from __future__ import annotations

import asyncio

import pytest

from kit import until
from modemd.config.model import ModemConfig
from modemd.at.channel import AtChannel
from modemd.codec.pdu import decode_deliver
from modemd.domain.errors import ErrorClass, SimLocked, classify
from modemd.modem.events import SmsStored
from modemd.modem.modem import Modem, ModemState, SmsSendFailed

TEXTS = {
    "gsm7_extension": "Price: 5€ [promo] {x} ~ ^ | \\ done @home",
    "cyrillic": "Ваш код подтверждения: 482913. Никому его не сообщайте.",
    "emoji": "Your code is ready 🔐✅ — thanks 👍🏽",
    "multipart_1000": ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 18)[:1000],
    "multipart_emoji": "😀" * 75 + "a" + "🎉" * 80,
}



async def _modem(sim, **kwargs) -> Modem:
    modems: list[Modem] = []
    channel = AtChannel(sim.port, on_urc=lambda urc: modems[0].handle_urc(urc))
    settings = ModemConfig("test", sim.port, registration_timeout=kwargs.pop("registration_timeout", 5.0),
                           pin=kwargs.pop("pin", None), smsc=kwargs.pop("smsc", None))
    modems.append(Modem(settings, channel, **kwargs))
    await channel.open()
    return modems[0]


async def test_bring_up_reads_identity_signal_and_registration(sim):
    modem = await _modem(sim)
    try:
        status = await modem.bring_up()
    finally:
        await modem.channel.close()
    assert status.state is ModemState.READY
    assert status.identity.manufacturer and status.identity.model
    assert len(status.identity.imei) == 15 and status.identity.imei.isdigit()
    assert status.identity.imsi.isdigit() and status.identity.iccid
    assert status.registration in (1, 5)
    assert status.rssi is not None and status.signal_dbm < 0
    assert status.operator
    assert status.smsc


@pytest.mark.parametrize("name", sorted(TEXTS))
async def test_send_reaches_the_handset_byte_exact(sim, name):
    text = TEXTS[name]
    modem = await _modem(sim)
    try:
        await modem.bring_up()
        result = await modem.send_sms("+4915112345678", text)
    finally:
        await modem.channel.close()
    received = sim.handset.messages()
    assert len(received) == 1
    assert received[0].to == "+4915112345678"
    assert received[0].text == text
    assert received[0].parts == result.parts == len(result.references)


async def test_pin_is_entered_once_when_the_sim_asks(sim):
    sim.set_fault("pin", "4321")
    sim.set_fault("sim_state", "SIM PIN")
    modem = await _modem(sim, pin="4321")
    try:
        status = await modem.bring_up()
    finally:
        await modem.channel.close()
    assert status.state is ModemState.READY and status.sim == "READY"


async def test_wrong_pin_is_never_retried(sim):
    sim.set_fault("pin", "4321")
    sim.set_fault("sim_state", "SIM PIN")
    modem = await _modem(sim, pin="0000")
    try:
        with pytest.raises(SimLocked) as first:
            await modem.bring_up()
        assert first.value.permanent
        with pytest.raises(SimLocked):
            await modem.bring_up()   # a second bring-up (e.g. after a replug) must not spend another try
    finally:
        await modem.channel.close()
    assert modem.status.state is ModemState.SIM_LOCKED
    assert sim.state()["pin_attempts"] == 2


async def test_puk_locked_sim_is_permanent(sim):
    sim.set_fault("sim_state", "SIM PUK")
    modem = await _modem(sim, pin="1234")
    try:
        with pytest.raises(SimLocked) as exc:
            await modem.bring_up()
    finally:
        await modem.channel.close()
    assert exc.value.permanent


async def test_not_registered_modem_comes_up_but_cannot_send(sim):
    sim.set_fault("registration", 2)
    modem = await _modem(sim, registration_timeout=1.0)
    try:
        await modem.bring_up()
        assert modem.status.state is ModemState.NOT_REGISTERED and not modem.can_send
        sim.set_fault("registration", 1)         # the modem announces it with a +CREG URC
        for _ in range(50):
            if modem.can_send:
                break
            await asyncio.sleep(0.05)
    finally:
        await modem.channel.close()
    assert modem.status.state is ModemState.READY


@pytest.mark.parametrize("fun", [4, 0])
async def test_a_modem_left_with_its_radio_off_is_switched_on_and_registers(sim, fun, caplog):
    modem = await _modem(sim)
    try:
        await modem.channel.command(f"AT+CFUN={fun}")    # airplane mode / minimum functionality, left by someone
        assert (await modem.channel.command("ATZ")) == [] and \
            (await modem.channel.command("AT+CFUN?")) == [f"+CFUN: {fun}"]       # ATZ does not touch the radio
        with caplog.at_level("WARNING"):
            status = await modem.bring_up()
    finally:
        await modem.channel.close()
    assert status.state is ModemState.READY and status.registration in (1, 5)
    assert any(f"radio was off (+CFUN: {fun})" in r.getMessage() for r in caplog.records)


async def test_a_deregistered_modem_is_set_to_automatic_network_selection_and_registers(sim, caplog):
    modem = await _modem(sim)
    try:
        await modem.channel.command("AT+COPS=2")          # deregistered by hand, and left so
        await modem.channel.command("ATZ")
        assert await modem.channel.command("AT+COPS?") == ["+COPS: 2"]
        with caplog.at_level("WARNING"):
            status = await modem.bring_up()
    finally:
        await modem.channel.close()
    assert status.state is ModemState.READY and status.operator
    assert any("deregistered (+COPS: 2)" in r.getMessage() for r in caplog.records)


async def test_a_modem_with_its_radio_on_is_left_alone(sim, caplog):
    modem = await _modem(sim)
    try:
        with caplog.at_level("WARNING"):
            await modem.bring_up()
    finally:
        await modem.channel.close()
    assert not any("radio was off" in r.getMessage() or "deregistered" in r.getMessage() for r in caplog.records)


async def test_cms_error_is_typed_and_classified(sim):
    modem = await _modem(sim)
    try:
        await modem.bring_up()
        sim.faults.cms_errors.extend([42, 1])
        with pytest.raises(SmsSendFailed) as transient:
            await modem.send_sms("+4915112345678", "hello")
        with pytest.raises(SmsSendFailed) as permanent:
            await modem.send_sms("+4915112345678", "hello")
        result = await modem.send_sms("+4915112345678", "hello")
    finally:
        await modem.channel.close()
    assert transient.value.cause.code == 42 and classify(transient.value.cause) is ErrorClass.TRANSIENT
    assert permanent.value.cause.code == 1 and classify(permanent.value.cause) is ErrorClass.PERMANENT
    assert transient.value.parts_sent == 0
    assert result.parts == 1
    assert [m.text for m in sim.handset.messages()] == ["hello"]


async def test_failure_in_the_middle_of_a_multipart_says_how_many_parts_went_out(sim):
    modem = await _modem(sim)
    try:
        await modem.bring_up()
        original = modem._submit_part
        calls = []

        async def refuse_second_part(part):
            calls.append(part)
            if len(calls) == 2:
                sim.set_fault("cms_errors", [500])   # the network refuses the second part only
            return await original(part)

        modem._submit_part = refuse_second_part
        with pytest.raises(SmsSendFailed) as exc:
            await modem.send_sms("+4915112345678", "x" * 400)
    finally:
        await modem.channel.close()
    assert exc.value.parts_sent == 1 and len(exc.value.references) == 1


async def test_big_signal_changes_are_logged(sim, caplog):
    import logging
    caplog.set_level(logging.INFO, logger="modemd.modem.modem")
    modem = await _modem(sim)
    try:
        await modem.bring_up()
        before = modem.status.rssi
        sim.send_urc("^RSSI: 3")                       # Huawei-style unsolicited signal report
        for _ in range(50):
            if modem.status.rssi == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await modem.channel.close()
    assert modem.status.rssi == 3 and before != 3
    assert f"signal: {-113 + 2 * before} dBm -> -107 dBm" in caplog.text


async def test_an_sms_arriving_on_the_simulator_is_reported_as_sms_stored_and_readable(sim):
    """+CMTI through the real pty and AtChannel: the Modem reports SmsStored; its index reads the message."""
    modem = await _modem(sim)
    stored: list[SmsStored] = []
    modem.on(SmsStored, stored.append)
    try:
        await modem.bring_up()
        [index] = sim.inject_sms("+447700900123", "hello from the network")
        await until(lambda: stored)
        message = await modem.read_stored(stored[0].index)
    finally:
        await modem.channel.close()
    assert stored == [SmsStored("test", "SM", index)]          # the EC25 dialect stores on the SIM
    assert decode_deliver(message.hex, message.tpdu_length).text == "hello from the network"
