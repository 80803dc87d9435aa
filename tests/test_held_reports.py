"""Reports that came before their message was recorded sent (domain/held_reports.py): taken by the message they
fit (its modem, one of its references, its number on the last 9 digits), once; forgotten after HOLD_FOR; at most
PER_MODEM kept per modem."""

from __future__ import annotations

import time

from modemd.domain.sms import OutboundSms
from modemd.domain import held_reports
from modemd.domain.held_reports import PER_MODEM, HeldReports

TO = "+447700900123"


def sent(modem="m0", refs=(7,), to=TO) -> OutboundSms:
    now = time.time()
    return OutboundSms(id="msg_x", to=to, text="hi", parts=len(refs), next_attempt_at=now, created_at=now,
                       updated_at=now, modem=modem, references=list(refs))


def test_a_report_is_taken_by_the_message_it_fits_and_only_once():
    held = HeldReports()
    held.remember("m0", 7, "07700900123", 1.0)          # the network's national form of TO
    held.remember("m0", 8, TO, 2.0)
    held.remember("m1", 7, TO, 3.0)
    assert held.take_for(sent(to="+447700900999")) == []                       # another number
    assert [(r.modem, r.reference, r.received_at) for r in held.take_for(sent())] == [("m0", 7, 1.0)]
    assert held.take_for(sent()) == [] and len(held) == 2


def test_reports_are_forgotten_after_a_while_and_a_modem_keeps_the_newest(monkeypatch):
    held = HeldReports()
    held.remember("m0", 7, TO, 1.0)
    monkeypatch.setattr(held_reports, "HOLD_FOR", -1.0)
    assert held.take_for(sent()) == [] and len(held) == 0
    monkeypatch.undo()
    for i in range(PER_MODEM + 10):
        held.remember("m0", i % 256, TO, float(i))
    assert len(held) == PER_MODEM
    assert [r.received_at for r in held.take_for(sent(refs=(5,)))] == [float(256 + 5)]   # the oldest 5 went first
