"""AtChannel against a scripted fake modem on a real pty (tests/fake_device.py)."""

import asyncio
import logging
import os
import re

import pytest

from fake_device import FakeModem, Reply
from modemd.at.channel import AtChannel, Urc, urc_name, visible
from modemd.domain.errors import (AtTimeout, ChannelClosed, CmeError, CmsError, CommandError, ErrorClass,
                                  PromptNotReceived, classify)
from modemd.log.setup import TRACE, ModemLogAdapter
from kit import until

pytestmark = pytest.mark.timeout(10)

PDU = "0011000B915121436587F90000AA0BE8329BFD06DDDF723619"   # 25 TPDU octets after the "00" SMSC field


@pytest.fixture
async def fake(tmp_path):
    device = await FakeModem(link=tmp_path / "modem").start()
    device.script["AT+CSQ"] = Reply(["+CSQ: 20,99", "OK"])
    device.script["AT+CGMI"] = Reply(["Quectel", "OK"])
    yield device
    await device.stop()


@pytest.fixture
async def channel(fake):
    urcs, lost = [], []
    ch = AtChannel(fake.port, on_urc=urcs.append, on_lost=lost.append,
                   probe_timeout=0.2, quiet=0.03, quiet_max=0.3)
    ch.urcs, ch.lost = urcs, lost
    await ch.open()
    yield ch
    await ch.close()


# ---- plain commands ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("echo", [True, False], ids=["echo_on", "echo_off"])
@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["whole_reads", "byte_at_a_time"])
async def test_command_returns_info_lines_without_echo(fake, channel, echo, byte_at_a_time):
    fake.echo, fake.byte_at_a_time = echo, byte_at_a_time
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]
    assert await channel.command("AT") == []
    assert fake.commands == ["AT+CSQ", "AT"]


async def test_several_lines_in_one_read_and_blank_lines(fake, channel):
    fake.script["AT+CMGL=4"] = Reply(raw=b"\r\n\r\n+CMGL: 1,0,,23\r\n0791AA\r\n\r\n\r\n+CMGL: 2,1,,20\r\n0791BB\r\n"
                                         b"\r\nOK\r\n")
    assert await channel.command("AT+CMGL=4") == ["+CMGL: 1,0,,23", "0791AA", "+CMGL: 2,1,,20", "0791BB"]


async def test_garbage_and_nul_bytes_between_responses(fake, channel, caplog):
    caplog.set_level(logging.DEBUG, logger="modemd.at.channel")
    await fake.send(b"\x00\xff\xfe junk\r\n\x00")             # nothing pending: logged and dropped
    await until(lambda: any("dropping unsolicited line" in r.getMessage() for r in caplog.records))
    fake.script["AT+CSQ"] = Reply(raw=b"\r\n+CS\x00Q: 20,99\r\n\x00\r\nOK\r\n")
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]
    assert channel.urcs == []


async def test_lines_before_the_echo_are_not_part_of_the_answer(fake, channel):
    fake.echo = False
    fake.script["AT+CSQ"] = Reply(raw=b"")
    task = asyncio.create_task(channel.command("AT+CSQ"))
    await fake.wait_command()
    await fake.send(b"\r\nstray\r\nAT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert await task == ["+CSQ: 20,99"]


async def test_echo_split_across_reads_is_dropped(fake, channel):
    fake.echo = False
    fake.script["AT+CGMI"] = Reply(raw=b"")
    task = asyncio.create_task(channel.command("AT+CGMI"))
    await fake.wait_command()
    for chunk in (b"AT+C", b"GM", b"I\r", b"\r\nQuectel\r\n", b"\r\nOK\r\n"):
        await fake.send(chunk)
        await asyncio.sleep(0.01)
    assert await task == ["Quectel"]


async def test_split_cme_error_mbed_os_14448(fake, channel):
    fake.script["AT+CSCS?"] = Reply(raw=b"")
    task = asyncio.create_task(channel.command("AT+CSCS?"))
    await fake.wait_command()
    await fake.send(b"AT+CSCS?\r\r\n+CME ERROR: operation not supp")
    await asyncio.sleep(0.02)
    await fake.send(b"orted\r\n")
    with pytest.raises(CmeError) as err:
        await task
    assert err.value.code == 4 and err.value.command == "AT+CSCS?"


@pytest.mark.parametrize("final, exc_type, code", [
    ("+CME ERROR: 10", CmeError, 10), ("+CME ERROR: SIM not inserted", CmeError, 10),
    ("+CME ERROR: SIM busy", CmeError, 14), ("+CMS ERROR: 500", CmsError, 500),
    ("+CMS ERROR: unknown error", CmsError, 500), ("+CMS ERROR: 332", CmsError, 332),
    ("ERROR", CommandError, None), ("COMMAND NOT SUPPORT", CommandError, None),
])
async def test_error_results(fake, channel, final, exc_type, code):
    fake.script["AT+CPMS?"] = Reply([final])
    with pytest.raises(exc_type) as err:
        await channel.command("AT+CPMS?")
    assert getattr(err.value, "code", None) == code
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]   # the channel carries on


async def test_commands_run_one_at_a_time(fake, channel):
    fake.script["AT+CGMI"] = Reply(["Quectel", "OK"], delay=0.1)
    first = asyncio.create_task(channel.command("AT+CGMI"))
    second = asyncio.create_task(channel.command("AT+CSQ"))
    await fake.wait_command()
    await asyncio.sleep(0.05)
    assert fake.commands == ["AT+CGMI"]          # the second is not written before the first is answered
    assert await first == ["Quectel"] and await second == ["+CSQ: 20,99"]


@pytest.mark.parametrize("bad", ["AT\r+CFUN=0", "AT\x1a", "AT\x1b", "AT+CMGS=\u00e9"])
async def test_control_bytes_in_commands_are_refused(channel, bad):
    with pytest.raises(ValueError):
        await channel.command(bad)


# ---- URCs -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, name", [
    ("RING", "RING"), ("^RSSI: 18", "^RSSI"), ("^BOOT:20952,0,0,0,72", "^BOOT"), ("+QIND: SMS DONE", "+QIND"),
    ('+CMTI: "SM",3', "+CMTI"), ("+CREG: 1", "+CREG"), ("+CPIN: READY", "+CPIN"), ("RDY", "RDY"),
    ("^SIMST:1", "^SIMST"), ("SMS Ready", "SMS READY"), ("+CDSI: \"SR\",2", "+CDSI"),
    ('+CDS: 6,7,"+4477",145,"24/01/01,10:00:00+00","24/01/01,10:00:05+00",0', "+CDS"),   # text mode: one line
])
async def test_unsolicited_urcs(fake, channel, line, name):
    await fake.send_lines(line)
    await until(lambda: channel.urcs)
    assert channel.urcs == [Urc(name, line)]


async def test_cmti_between_info_lines_and_ok(fake, channel):
    fake.script["AT+CMGL=4"] = Reply(["+CMGL: 1,0,,23", "0791AA", '+CMTI: "SM",4', "OK"])
    assert await channel.command("AT+CMGL=4") == ["+CMGL: 1,0,,23", "0791AA"]
    assert channel.urcs == [Urc("+CMTI", '+CMTI: "SM",4')]


async def test_creg_urc_during_solicited_creg_query(fake, channel):
    # FreeRTOS-Cellular #89: the URC form must not be taken for the AT+CREG? answer (and vice versa).
    fake.script["AT+CREG?"] = Reply(['+CREG: 1,"00A1","1234"', '+CREG: 2,1,"00A1","1234"', "OK"])
    assert await channel.command("AT+CREG?", expect="+CREG:") == ['+CREG: 2,1,"00A1","1234"']
    assert channel.urcs == [Urc("+CREG", '+CREG: 1,"00A1","1234"')]


async def test_creg_urc_with_no_command_pending(fake, channel):
    await fake.send_lines("+CREG: 5")
    await until(lambda: channel.urcs)
    assert channel.urcs == [Urc("+CREG", "+CREG: 5")]


async def test_pending_commands_own_prefix_is_its_response(fake, channel):
    fake.script["AT+CPIN?"] = Reply(["+CPIN: READY", "OK"])
    assert await channel.command("AT+CPIN?") == ["+CPIN: READY"]     # expect derived from the command
    assert channel.urcs == []


async def test_two_line_cmt_and_cds(fake, channel):
    deliver = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
    report = "07911326040000F006D60B911346610089F6212020314241002120203142410000"
    await fake.send_lines("+CMT: ,24", deliver, "+CDS: 25", report)
    await until(lambda: len(channel.urcs) == 2)
    assert channel.urcs == [Urc("+CMT", "+CMT: ,24", deliver), Urc("+CDS", "+CDS: 25", report)]


async def test_two_line_cmt_text_mode_body_is_free_text(fake, channel):
    await fake.send_lines('+CMT: "+447700900123",,"24/01/01,12:00:00+04"', "OK see you at 5")
    await until(lambda: channel.urcs)
    assert channel.urcs == [Urc("+CMT", '+CMT: "+447700900123",,"24/01/01,12:00:00+04"', "OK see you at 5")]


async def test_two_line_urc_inside_a_response(fake, channel):
    deliver = "0791AABBCC"
    fake.script["AT+CSQ"] = Reply(["+CSQ: 20,99", "+CMT: ,5", deliver, "OK"])
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]
    assert channel.urcs == [Urc("+CMT", "+CMT: ,5", deliver)]


async def test_two_line_urc_without_its_pdu_does_not_eat_the_final(fake, channel):
    fake.script["AT+CSQ"] = Reply(["+CSQ: 20,99", "+CDS: 25", "OK"])
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]
    assert channel.urcs == [Urc("+CDS", "+CDS: 25", None)]


async def test_cusd_spanning_lines(fake, channel):
    await fake.send_lines('+CUSD: 0,"Balance: 5 EUR', 'Valid until 31/12",15')
    await until(lambda: channel.urcs)
    assert channel.urcs == [Urc("+CUSD", '+CUSD: 0,"Balance: 5 EUR\nValid until 31/12",15')]


async def test_failing_urc_handler_does_not_break_the_channel(fake, channel):
    def boom(urc):
        raise RuntimeError("handler bug")
    channel.on_urc = boom
    fake.script["AT+CSQ"] = Reply(["RING", "+CSQ: 20,99", "OK"])
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]


def test_urc_name_table():
    assert urc_name("+CMTI: \"SM\",1") == "+CMTI" and urc_name("+CMT: ,24") == "+CMT"
    assert urc_name("+CSQ: 20,99") is None and urc_name("+CMGS: 4") is None and urc_name("RINGING") is None


# ---- timeouts and resync ----------------------------------------------------------------------------------------

async def test_modem_stops_answering_then_recovers_via_resync(fake, channel):
    fake.muted = True
    with pytest.raises(AtTimeout) as err:
        await channel.command("AT+CSQ", timeout=0.1)
    assert not err.value.after_payload and classify(err.value) is ErrorClass.TRANSIENT
    assert await channel.resync() is False                       # still silent
    with pytest.raises(AtTimeout):
        await channel.command("AT+CSQ", timeout=0.1)             # resync first fails: not even written
    fake.muted = False
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]    # resynced on the way in
    assert fake.commands[-2:] == ["AT", "AT+CSQ"]


async def test_late_reply_is_not_taken_for_the_next_command(fake, channel):
    fake.script["AT+CSQ"] = Reply(["+CSQ: 20,99", "OK"], delay=0.15)
    with pytest.raises(AtTimeout):
        await channel.command("AT+CSQ", timeout=0.05)
    assert await channel.command("AT+CGMI") == ["Quectel"]
    assert await channel.command("AT") == []


async def test_resync_escapes_a_stuck_prompt(fake, channel):
    assert await channel.resync() is True
    assert bytes(fake.received).startswith(b"\x1b\rAT\r")


async def test_resync_on_closed_channel_is_false(fake, channel):
    await channel.close()
    assert await channel.resync() is False


# ---- unplug, close, reopen --------------------------------------------------------------------------------------

async def test_unplug_fails_pending_command_and_reopen_behind_the_same_link(fake, channel, tmp_path):
    fake.script["AT+CSQ"] = Reply(raw=b"")
    task = asyncio.create_task(channel.command("AT+CSQ", timeout=5))
    await fake.wait_command()
    fake.unplug()
    with pytest.raises(ChannelClosed) as err:
        await task
    assert not err.value.after_payload
    await until(lambda: channel.lost)
    assert len(channel.lost) == 1 and not channel.is_open
    with pytest.raises(ChannelClosed):
        await channel.command("AT")

    replug = await FakeModem(link=tmp_path / "modem").start()     # a new pty, the link re-pointed
    try:
        assert os.path.realpath(tmp_path / "modem") == replug.slave_name
        replug.script["AT+CSQ"] = Reply(["+CSQ: 11,99", "OK"])
        await channel.open()
        assert channel.is_open and await channel.command("AT+CSQ") == ["+CSQ: 11,99"]
    finally:
        await channel.close()
        await replug.stop()


async def test_close_fails_pending_without_on_lost(fake, channel):
    fake.script["AT+CSQ"] = Reply(raw=b"")
    task = asyncio.create_task(channel.command("AT+CSQ", timeout=5))
    await fake.wait_command()
    await channel.close()
    with pytest.raises(ChannelClosed):
        await task
    assert channel.lost == [] and not channel.is_open


async def test_open_missing_path_raises_channel_closed(tmp_path):
    with pytest.raises(ChannelClosed):
        await AtChannel(str(tmp_path / "nope")).open()


# ---- command_with_payload ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("echo", [True, False], ids=["echo_on", "echo_off"])
@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["whole_reads", "byte_at_a_time"])
async def test_payload_submit(fake, channel, echo, byte_at_a_time):
    fake.echo, fake.byte_at_a_time = echo, byte_at_a_time
    fake.script["AT+CMGS=25"] = Reply(prompt=True, then=["+CMGS: 7", "OK"])
    assert await channel.command_with_payload("AT+CMGS=25", PDU) == ["+CMGS: 7"]
    assert fake.payloads == [PDU]


async def test_missing_prompt_sends_esc_and_recovers(fake, channel):
    fake.script["AT+CMGS=25"] = Reply(raw=b"")
    with pytest.raises(PromptNotReceived) as err:
        await channel.command_with_payload("AT+CMGS=25", PDU, prompt_timeout=0.1)
    assert classify(err.value) is ErrorClass.TRANSIENT
    await until(lambda: fake.received.endswith(b"\x1b"))
    assert bytes(fake.received) == b"AT+CMGS=25\r\x1b"           # nothing but ESC after the command
    assert fake.payloads == []
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]


async def test_error_instead_of_prompt(fake, channel):
    fake.script["AT+CMGS=25"] = Reply(["+CMS ERROR: 304"])
    with pytest.raises(CmsError) as err:
        await channel.command_with_payload("AT+CMGS=25", PDU)
    assert err.value.code == 304 and fake.payloads == []


async def test_cms_error_after_payload(fake, channel):
    fake.script["AT+CMGS=25"] = Reply(prompt=True, then=["+CMS ERROR: 42"])
    with pytest.raises(CmsError) as err:
        await channel.command_with_payload("AT+CMGS=25", PDU)
    assert err.value.code == 42 and classify(err.value) is ErrorClass.TRANSIENT
    assert PDU not in str(err.value)


async def test_timeout_after_payload_is_ambiguous(fake, channel):
    fake.script["AT+CMGS=25"] = Reply(prompt=True, then=[])
    with pytest.raises(AtTimeout) as err:
        await channel.command_with_payload("AT+CMGS=25", PDU, timeout=0.1)
    assert err.value.after_payload and classify(err.value) is ErrorClass.AMBIGUOUS
    assert fake.payloads == [PDU]
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]


async def test_unplug_after_payload_is_ambiguous(fake, channel):
    fake.script["AT+CMGS=25"] = Reply(prompt=True, then=[])
    task = asyncio.create_task(channel.command_with_payload("AT+CMGS=25", PDU, timeout=5))
    await until(lambda: fake.payloads)
    fake.unplug()
    with pytest.raises(ChannelClosed) as err:
        await task
    assert err.value.after_payload and classify(err.value) is ErrorClass.AMBIGUOUS


@pytest.mark.parametrize("payload", ["00\x1aAT+CFUN=0", "00\x1b", "00\r\nAT", "00\u00e9"])
async def test_payload_with_control_bytes_is_refused(fake, channel, payload):
    with pytest.raises(ValueError):
        await channel.command_with_payload("AT+CMGS=25", payload)
    assert fake.received == bytearray()


async def test_urc_while_waiting_for_the_prompt(fake, channel):
    fake.script["AT+CMGS=25"] = Reply(raw=b'\r\n+CMTI: "SM",9\r\n')
    task = asyncio.create_task(channel.command_with_payload("AT+CMGS=25", PDU, prompt_timeout=2))
    await until(lambda: channel.urcs)
    fake.script["AT+CMGS=25"] = Reply(prompt=True, then=["+CMGS: 8", "OK"])
    fake._in_payload = fake.script["AT+CMGS=25"]
    await fake.send(b"\r\n> ")
    assert await task == ["+CMGS: 8"]
    assert channel.urcs == [Urc("+CMTI", '+CMTI: "SM",9')]


# ---- logging and secrets ----------------------------------------------------------------------------------------

def _hex_stream(records) -> str:
    return "".join(ch for r in records for ch in r.getMessage() if ch in "0123456789ABCDEFabcdef")


@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["whole_reads", "byte_at_a_time"])
async def test_secret_payload_never_logged_at_trace(fake, channel, caplog, byte_at_a_time):
    caplog.set_level(TRACE)
    fake.byte_at_a_time = byte_at_a_time
    fake.script["AT+CMGS=25"] = Reply(prompt=True, then=["+CMGS: 7", "OK"])
    assert await channel.command_with_payload("AT+CMGS=25", PDU) == ["+CMGS: 7"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("<payload redacted, 50 bytes>" in m for m in messages)
    assert any("AT+CMGS=25<CR>" in m for m in messages)
    assert not any(PDU in m or PDU[10:30] in m for m in messages)
    assert PDU[4:] not in _hex_stream(caplog.records)        # not even spelled out one byte per record
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]
    assert any(r.getMessage().endswith("rx line +CSQ: 20,99") for r in caplog.records)   # lines are traced


async def test_secret_payload_not_logged_after_timeout(fake, channel, caplog):
    caplog.set_level(TRACE)
    fake.script["AT+CMGS=25"] = Reply(prompt=True, then=["+CMGS: 7", "OK"], delay=0.15)
    with pytest.raises(AtTimeout):
        await channel.command_with_payload("AT+CMGS=25", PDU, timeout=0.05)
    assert await channel.command("AT+CSQ") == ["+CSQ: 20,99"]   # the late echo arrives during resync
    assert not any(PDU[10:30] in r.getMessage() for r in caplog.records)


async def test_pin_never_logged(fake, channel, caplog):
    caplog.set_level(TRACE)
    fake.byte_at_a_time = True
    fake.script['AT+CPIN="4711"'] = Reply(["OK"])
    await channel.command('AT+CPIN="4711"', secret=True)
    fake.script['AT+CLCK="SC",0,"4711"'] = Reply(["+CME ERROR: 16"])
    with pytest.raises(CmeError) as err:
        await channel.command('AT+CLCK="SC",0,"4711"')          # redacted even without secret=True
    assert "4711" not in str(err.value)
    assert not any("4711" in r.getMessage() for r in caplog.records)
    assert "4711" not in _hex_stream(caplog.records)
    assert any("AT+CPIN=<redacted>" in r.getMessage() for r in caplog.records)


async def test_trace_shows_lines_and_byte_counts(fake, channel, caplog):
    caplog.set_level(TRACE)
    await channel.command("AT+CSQ")
    rx = [r.getMessage() for r in caplog.records if r.levelno == TRACE and "rx" in r.getMessage()]
    assert any(m.endswith("rx line +CSQ: 20,99") for m in rx)
    assert any(re.search(r"rx \d+ bytes$", m) for m in rx)
    assert all(m.startswith("[modem] ") for m in rx)             # ModemLogAdapter prefix (the link's name)


@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["whole_reads", "byte_at_a_time"])
async def test_numbers_and_inbound_pdus_never_reach_the_trace(fake, channel, caplog, byte_at_a_time):
    """A caller's number (+CLIP) and a received PDU (sender number and text) are personal data, even at TRACE,
    and even when the modem sends them one byte at a time (no raw chunk is shown, only masked lines)."""
    caplog.set_level(TRACE)
    fake.byte_at_a_time = byte_at_a_time
    inbound = "07919471016700000410D0" + "0C914477009001230000" + "62113251610300" + "0BC8329BFD06" * 3
    fake.script["AT+CMGR=1"] = Reply(["+CMGR: 0,,40", inbound, "OK"])
    await fake.send_lines("RING", '+CLIP: "+447700900123",145,,,,0')
    await channel.command("AT+CMGR=1")
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "447700900123" not in text and inbound[10:40] not in text and "0C9144770090" not in text
    assert "<PDU, " in text and "+4477*****123" in text
    assert inbound[:12] not in _hex_stream(caplog.records)


def test_visible_and_adapter():
    assert visible(b"AT\r\n\x1a\x1b\x00\x7f") == "AT<CR><LF><Ctrl-Z><ESC><NUL><7F>"
    adapter = ModemLogAdapter(logging.getLogger("x"), "ec25%1")
    assert adapter.process("hello %s", {})[0] == "[ec25_1] hello %s"
    assert logging.getLevelName(TRACE) == "TRACE"
    assert re.fullmatch(r"\d+", str(TRACE))
