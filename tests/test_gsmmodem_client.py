"""python-gsmmodem (a second independent AT client, in the test extras) against the simulated modem: connect,
identity, signal, network, PDU and text-mode sends, as its users run it."""
from __future__ import annotations

import pytest

from modemd.simulator import BackgroundSimulator

gsmmodem = pytest.importorskip("gsmmodem.modem")
pytestmark = pytest.mark.timeout(60)
NUMBER = "+4915112345678"


@pytest.fixture
def client(tmp_path):
    with BackgroundSimulator(link=str(tmp_path / "ttyUSB2"), handset_path=str(tmp_path / "handset.jsonl")) as sim:
        modem = gsmmodem.GsmModem(sim.port, 115200)
        modem.smsTextMode = False
        modem.connect()
        try:
            yield modem, sim
        finally:
            modem.close()


def test_connect_reads_identity_signal_and_network(client):
    modem, sim = client
    assert (modem.manufacturer, modem.model, modem.imei) == ("Quectel", "EC25", sim.modem.profile.imei)
    assert modem.signalStrength == sim.modem.profile.rssi
    assert modem.networkName == sim.modem.profile.operators[0].long_name


def test_pdu_and_text_mode_sends_reach_the_handset(client):
    modem, sim = client
    # No emoji: python-gsmmodem's UCS-2 encoder raises ValueError on characters outside the BMP (its own bug).
    texts = ["Hello from python-gsmmodem", "Привет из python-gsmmodem", "x" * 300]
    for text in texts:
        modem.sendSms(NUMBER, text, waitForDeliveryReport=False)
    modem.smsTextMode = True
    modem.sendSms(NUMBER, "text mode hello", waitForDeliveryReport=False)
    got = [(m.to, m.text, m.parts, m.encoding) for m in sim.modem.handset.messages()]
    assert got == [(NUMBER, texts[0], 1, "gsm7"), (NUMBER, texts[1], 1, "ucs2"), (NUMBER, texts[2], 2, "gsm7"),
                   (NUMBER, "text mode hello", 1, "gsm7")]
