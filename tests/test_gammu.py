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
