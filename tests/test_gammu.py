"""gammu (an independent, widely used AT client) against the simulated modem: if gammu can identify it and send
through it, the dialect is close enough to a real modem that other clients will work too."""
from __future__ import annotations

import os
import subprocess

import pytest

from modemd.simulator import BackgroundSimulator
from modemd.simulator.profile import DEFAULT_PROFILE

GAMMU = "/usr/bin/gammu"
pytestmark = [pytest.mark.skipif(not os.path.exists(GAMMU), reason="gammu CLI not installed"),
              pytest.mark.timeout(60)]
NUMBER = "+4915112345678"


@pytest.fixture
def gammu(tmp_path):
    link = tmp_path / "ttyUSB2"
    rc = tmp_path / "gammurc"
    rc.write_text(f"[gammu]\ndevice = {link}\nconnection = at\nlogfile = {tmp_path / 'gammu.log'}\n"
                  "logformat = textall\n")
    with BackgroundSimulator(link=str(link), handset_path=str(tmp_path / "handset.jsonl")) as sim:
        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([GAMMU, "-c", str(rc), *args], capture_output=True, text=True, timeout=30,
                                  env={**os.environ, "LC_ALL": "C.UTF-8"})
        run.sim = sim
        run.log = tmp_path / "gammu.log"
        yield run


def test_gammu_identify(gammu):
    result = gammu("identify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Quectel" in result.stdout and "EC25" in result.stdout
    assert DEFAULT_PROFILE.imei in result.stdout and DEFAULT_PROFILE.imsi in result.stdout


def test_gammu_sendsms(gammu):
    result = gammu("sendsms", "TEXT", NUMBER, "-text", "Hello from gammu €")
    assert result.returncode == 0, result.stdout + result.stderr
    [sms] = gammu.sim.modem.handset.messages()
    assert (sms.to, sms.text, sms.parts, sms.encoding) == (NUMBER, "Hello from gammu €", 1, "gsm7")


def test_gammu_sendsms_multipart(gammu):
    text = ("A long message from gammu, split by gammu itself into concatenated parts. " * 5)[:390]
    result = gammu("sendsms", "TEXT", NUMBER, "-len", "400", "-text", text)
    assert result.returncode == 0, result.stdout + result.stderr
    [sms] = gammu.sim.modem.handset.messages()
    assert (sms.text, sms.parts) == (text, 3)
    assert sms.message_references == [0, 1, 2]


def test_gammu_sendsms_unicode_multipart(gammu):
    text = "Привет из gammu 😀 " * 6
    result = gammu("sendsms", "TEXT", NUMBER, "-unicode", "-autolen", "200", "-text", text)
    assert result.returncode == 0, result.stdout + result.stderr
    [sms] = gammu.sim.modem.handset.messages()
    assert (sms.text, sms.encoding) == (text, "ucs2") and sms.parts == 2


def test_gammu_networkinfo(gammu):
    # gammu reads +CREG/+CGREG with location and +CGATT (TS 27.007 10.1.9); an unknown +CGATT? fails the command.
    result = gammu("networkinfo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Network state        : home network" in result.stdout
    assert "GPRS                 : attached" in result.stdout


def test_gammu_reads_and_deletes_stored_sms(gammu):
    gammu.sim.call(gammu.sim.modem.inject_sms, "+447700900123", "Stored on the SIM, price 5€")
    gammu.sim.call(gammu.sim.modem.inject_sms, "+447700900124", "Привет 😀 " * 20)     # 3 UCS-2 parts
    listed = gammu("getallsms")       # gammu selects the store with AT+CPMS="SM","SM" and expects +CPMS: in reply
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Stored on the SIM, price 5€" in listed.stdout and "+447700900123" in listed.stdout
    assert "part 3 of 3" in listed.stdout and "4 SMS parts in 4 SMS sequences" in listed.stdout
    # The EC25 numbers SIM locations from 0 (the simulator too); gammu's CLI takes locations from 1.
    deleted = gammu("deletesms", "1", "1")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    again = gammu("getallsms")
    assert "part 1 of 3" not in again.stdout and "part 2 of 3" in again.stdout
    assert "Stored on the SIM" in again.stdout and "3 SMS parts in 3 SMS sequences" in again.stdout


@pytest.mark.parametrize("device", ["e3372", "android"])
def test_gammu_works_with_the_other_simulated_devices(tmp_path, device):
    # gammu's Huawei set-up sends AT^PORTSEL=1 and stops at ERROR; the Android ACM port has no +CNMI.
    from modemd.simulator.profile import DEVICES
    link, rc = tmp_path / "ttyUSB0", tmp_path / "gammurc"
    rc.write_text(f"[gammu]\ndevice = {link}\nconnection = at\n")
    with BackgroundSimulator(link=str(link), handset_path=str(tmp_path / "handset.jsonl"),
                             profile=DEVICES[device]) as sim:
        def gammu(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([GAMMU, "-c", str(rc), *args], capture_output=True, text=True, timeout=30,
                                  env={**os.environ, "LC_ALL": "C.UTF-8"})
        identify = gammu("identify")
        assert identify.returncode == 0 and DEVICES[device].imei in identify.stdout, identify.stdout + identify.stderr
        sim.call(sim.modem.inject_sms, "+447700900123", f"hello from a {device}")
        listed = gammu("getallsms")
        assert listed.returncode == 0 and f"hello from a {device}" in listed.stdout, listed.stdout + listed.stderr
        sent = gammu("sendsms", "TEXT", NUMBER, "-unicode", "-text", "Привет 😀")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        [sms] = sim.modem.handset.messages()
        assert (sms.to, sms.text) == (NUMBER, "Привет 😀")
