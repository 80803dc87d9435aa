"""Delivery reports that came before their message was recorded `sent`, remembered so that the "sent" applies them.

A phone running SMS Gateway for Android may report "delivered" with, or right after, its answer to the send; the
outbox writes "sent" (with the reference a report is matched by) just after, in a task of its own. A report applied
before that commit finds no sent message, and is stored unmatched (store.InboxStore.apply_status_report). Each one
is remembered here, by modem, for HOLD_FOR seconds; when a message of that modem is recorded sent with that reference
to that number, the outbox's announcement (Inbox.message_sent) has the store link the stored report to it and settle
it (store.InboxStore.apply_held_report). What is remembered is in memory: a restart in that second loses the link,
as before, never the report itself, which is stored.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from .sms import OutboundSms

HOLD_FOR = 600.0        # seconds: longer than any send takes (a phone's SEND_TIMEOUT is 180 s)
PER_MODEM = 256         # remembered at most per modem (references wrap at 256): the oldest go first


@dataclass(frozen=True)
class HeldReport:
    modem: str
    reference: int
    recipient: str
    received_at: float      # as stored: the key of the unmatched row
    held_at: float          # time.monotonic()


class HeldReports:
    def __init__(self) -> None:
        self._by_modem: dict[str, deque[HeldReport]] = {}

    def __len__(self) -> int:
        return sum(len(held) for held in self._by_modem.values())

    def remember(self, modem: str, reference: int, recipient: str, received_at: float) -> None:
        held = self._by_modem.setdefault(modem, deque(maxlen=PER_MODEM))
        held.append(HeldReport(modem, reference, recipient, received_at, time.monotonic()))

    def take_for(self, sms: OutboundSms) -> list[HeldReport]:
        """The reports remembered for `sms` (its modem, one of its references, its number), no longer remembered."""
        held = self._by_modem.get(sms.modem or "")
        if not held:
            return []
        fresh_after = time.monotonic() - HOLD_FOR
        references = set(sms.references)
        kept, taken = deque(maxlen=PER_MODEM), []
        for report in held:
            if report.held_at < fresh_after:
                continue
            if report.reference in references and report.recipient[-9:] == sms.to[-9:]:
                taken.append(report)
            else:
                kept.append(report)
        self._by_modem[sms.modem] = kept
        return taken
