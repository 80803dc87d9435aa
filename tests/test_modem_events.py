"""Raw URC bytes, as devices send them -> the typed events a Modem reports (issue 12, item 2).

Each transcript goes through the real AT layer (AtCodec: bytes -> lines; LineRouter: which lines are URCs, and
multi-line assembly) into a real Modem, whose subscribers record what it reports. Every transcript is also fed a
byte at a time. No port and no event loop: framing, routing and the URC table are pure, and handlers do no I/O.
"""

from __future__ import annotations

import logging

import pytest

from modemd.config.model import ModemConfig
from modemd.at.channel import AtChannel
from modemd.at.codec import AtCodec
from modemd.at.redact import Redactor
from modemd.at.router import LineRouter
from modemd.modem.events import (EVENT_TYPES, ModemLost, RegistrationChanged, SignalChanged, SmsDelivered,
                                 SmsStorageFull, SmsStored, StatusReport, StatusReportStored)
from modemd.modem.modem import Modem, ModemState

M = "m0"
DELIVER = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
REPORT = "07911326040000F006D60B911346610089F6212020314241002120203142410000"

# (device or case, bytes as read from the port, events reported)
TRANSCRIPTS = [
    ("Quectel EC25 +CMTI, SIM storage", b'\r\n+CMTI: "SM",3\r\n', [SmsStored(M, "SM", 3)]),
    ("Quectel EC25 +CMTI, ME storage counts from 0", b'\r\n+CMTI: "ME",0\r\n', [SmsStored(M, "ME", 0)]),
    ("SIM800 +CMTI after a lone CR", b'\r+CMTI: "SM",1\r\n', [SmsStored(M, "SM", 1)]),
    ("SIM800 +CDSI, status report stored", b'\r\n+CDSI: "SR",2\r\n', [StatusReportStored(M, "SR", 2)]),
    ("Quectel EC25 two +CMTI in one read", b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n',
     [SmsStored(M, "SM", 1), SmsStored(M, "SM", 2)]),
    ("Quectel EC25 +CMT, routed SMS-DELIVER (AT+CNMI=2,2)", f"\r\n+CMT: ,24\r\n{DELIVER}\r\n".encode(),
     [SmsDelivered(M, DELIVER, 24)]),
    ("+CMT with a phonebook <alpha>", f'\r\n+CMT: "Mum",24\r\n{DELIVER}\r\n'.encode(),
     [SmsDelivered(M, DELIVER, 24)]),
    ("Quectel EC25 +CDS, routed status report (AT+CNMI=..,1)", f"\r\n+CDS: 25\r\n{REPORT}\r\n".encode(),
     [StatusReport(M, REPORT, 25)]),
    ("Huawei E3372 ^RSSI", b"\r\n^RSSI: 18\r\n", [SignalChanged(M, 18)]),
    ("Huawei E3372 ^RSSI 99: not known", b"\r\n^RSSI:99\r\n", [SignalChanged(M, None)]),
    ("Huawei ^SMMEMFULL, storage full", b'\r\n^SMMEMFULL: "SM"\r\n', [SmsStorageFull(M, "SM")]),
    ("+CREG URC with location (AT+CREG=2)", b'\r\n+CREG: 1,"00A1","1234"\r\n', [RegistrationChanged(M, 1)]),
    ("SIM800 +CREG URC, searching", b"\r\n+CREG: 2\r\n", [RegistrationChanged(M, 2)]),
    ("Quectel EC25 +CEREG, LTE roaming", b'\r\n+CEREG: 5,"3A9C","0B2C4A01",7\r\n', [RegistrationChanged(M, 5)]),
    ("+CGREG: packet domain says nothing about SMS", b"\r\n+CGREG: 1\r\n", []),
    ("Quectel EC25 boot: RDY, +CPIN, +QIND, no event", b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\n+QIND: SMS DONE\r\n", []),
    ("SIM800 boot: Call Ready, SMS Ready, no event", b"\r\nCall Ready\r\n\r\nSMS Ready\r\n", []),
    ("Huawei ^BOOT and RING, no event", b"\r\n^BOOT:20952,0,0,0,72\r\n\r\nRING\r\n", []),
    ("+CMTI without a readable index: read everything", b'\r\n+CMTI: "SM",x\r\n', [SmsStored(M, "", None)]),
    ("+CMT whose PDU never came", b"\r\n+CMT: ,24\r\n\r\nOK\r\n", []),
    ("+CDS in text mode (one line, no PDU)",
     b'\r\n+CDS: 6,7,"+4477",145,"24/01/01,10:00:00+00","24/01/01,10:00:05+00",0\r\n', []),
    ("+CMT in text mode: passed on without a length (PDU mode is always set)",
     b'\r\n+CMT: "+447700900123",,"24/01/01,12:00:00+04"\r\nOK see you at 5\r\n',
     [SmsDelivered(M, "OK see you at 5", None)]),
]


class Wire:
    """The reading half of an AtChannel, from the AT layer's public parts, feeding a real Modem."""

    def __init__(self):
        self.modem = Modem(ModemConfig(M, "/dev/null-never-opened"), AtChannel("/dev/null-never-opened"))
        self.events: list = []
        for kind in EVENT_TYPES:
            self.modem.on(kind, self.events.append)
        log = logging.LoggerAdapter(logging.getLogger("test.wire"), {})
        self._codec, self._router = AtCodec(), LineRouter(Redactor(), self.modem.handle_urc, log)

    def feed(self, data: bytes) -> None:
        for event in self._codec.feed(data):
            self._router.line_received(event.text)


@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["whole_reads", "byte_at_a_time"])
@pytest.mark.parametrize("device, raw, expected", TRANSCRIPTS, ids=[t[0] for t in TRANSCRIPTS])
def test_urc_transcript_to_events(device, raw, expected, byte_at_a_time):
    wire = Wire()
    for chunk in ([raw[i:i + 1] for i in range(len(raw))] if byte_at_a_time else [raw]):
        wire.feed(chunk)
    assert wire.events == expected


def test_registration_and_signal_events_move_the_modems_own_state():
    wire = Wire()
    wire.modem.status.state, wire.modem.status.registration = ModemState.READY, 1
    wire.feed(b"\r\n+CREG: 2\r\n")
    assert wire.modem.status.state is ModemState.NOT_REGISTERED and not wire.modem.can_send
    wire.feed(b'\r\n+CEREG: 1,"3A9C","0B2C4A01",7\r\n')
    assert wire.modem.status.state is ModemState.READY and wire.modem.status.registration == 1
    wire.feed(b"\r\n^RSSI: 3\r\n")
    assert wire.modem.status.rssi == 3 and wire.modem.status.signal_dbm == -107


def test_a_malformed_registration_urc_is_logged_and_reports_nothing(caplog):
    wire = Wire()
    with caplog.at_level(logging.WARNING, logger="modemd.modem.modem"):
        wire.feed(b"\r\n+CREG: home\r\n")
    assert wire.events == [] and "+CREG URC not understood" in caplog.text


def test_a_failing_handler_keeps_the_event_from_nobody_else(caplog):
    wire = Wire()
    seen = []

    def broken(event):
        raise RuntimeError("handler bug")

    wire.modem.on(SmsStored, broken)
    wire.modem.on(SmsStored, seen.append)
    wire.feed(b'\r\n+CMTI: "SM",4\r\n')
    assert seen == [SmsStored(M, "SM", 4)] and wire.events == seen
    assert "SmsStored handler failed" in caplog.text


def test_only_modem_events_can_be_subscribed():
    with pytest.raises(TypeError):
        Wire().modem.on(str, print)


def test_a_lost_port_is_offline_and_reported_as_modem_lost():
    wire = Wire()
    wire.modem.status.state = ModemState.READY
    wire.modem.connection_lost(OSError(5, "Input/output error"))
    assert wire.events == [ModemLost(M, "port lost: [Errno 5] Input/output error")]
    assert wire.modem.status.state is ModemState.OFFLINE and "port lost" in wire.modem.status.last_error
