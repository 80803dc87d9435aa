"""smstools3's smsd (Debian package smstools), the SMS daemon many servers already run, against the simulated
modem: it initialises the modem, sends spool files (GSM-7 and UCS-2) and stores a received SMS."""
from __future__ import annotations

import os
import subprocess

import pytest

from kit import wait_for
from modemd.simulator import BackgroundSimulator

SMSD = "/usr/sbin/smsd"
pytestmark = [pytest.mark.skipif(not os.path.exists(SMSD), reason="smsd not installed (Debian package: smstools)"),
              pytest.mark.timeout(120)]


def test_smsd_sends_spool_files_and_receives(tmp_path):
    spool = {name: tmp_path / name for name in ("outgoing", "checked", "failed", "sent", "incoming")}
    for folder in spool.values():
        folder.mkdir()
    link = tmp_path / "ttyUSB2"
    conf = tmp_path / "smsd.conf"
    conf.write_text("devices = GSM1\n" + "".join(f"{name} = {path}\n" for name, path in spool.items()) +
                    f"logfile = {tmp_path / 'smsd.log'}\ninfofile = {tmp_path / 'smsd.running'}\n"
                    f"pidfile = {tmp_path / 'smsd.pid'}\nloglevel = 6\ndelaytime = 1\ndelaytime_mainprocess = 1\n"
                    f"\n[GSM1]\ndevice = {link}\nincoming = yes\nbaudrate = 115200\n")
    (spool["outgoing"] / "plain").write_text("To: 4915112345678\n\nHello from smstools3 [5€]")
    (spool["outgoing"] / "cyrillic").write_text("To: 4915112345678\nAlphabet: UTF-8\n\nПривет из smstools3")
    with BackgroundSimulator(link=str(link), handset_path=str(tmp_path / "handset.jsonl")) as sim:
        sim.call(sim.modem.inject_sms, "+447700900123", "inbound for smstools")
        smsd = subprocess.Popen([SMSD, "-c", str(conf), "-t"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: len(list(spool["sent"].iterdir())) == 2 and any(spool["incoming"].iterdir()),
                     timeout=60)
        finally:
            smsd.terminate()
            smsd.wait(timeout=30)
        got = sorted((m.to, m.text, m.encoding) for m in sim.modem.handset.messages())
    assert got == [("+4915112345678", "Hello from smstools3 [5€]", "gsm7"),
                   ("+4915112345678", "Привет из smstools3", "ucs2")]
    assert not list(spool["failed"].iterdir())
    [received] = spool["incoming"].iterdir()
    text = received.read_text(encoding="latin-1")
    assert "From: 447700900123" in text and text.rstrip().endswith("inbound for smstools")
