"""Feeds queued messages to the modems: claim -> send -> sent / retry later / failed. One worker per modem.

Retry policy by error class (domain.errors.classify; the codes' classes in domain/error_codes.py), checked in this
order:
  PERMANENT     failed at once, with the modem's reason
  AMBIGUOUS     (timeout after the PDU went out, CMS 332, a port lost during the submission, or a multipart message
                of which some parts went out) the message may have left. Policy: at-least-once, bounded.
                It is re-queued flagged possible_duplicate, and counts as an attempt; after `max_ambiguous` such
                outcomes it is failed instead of resent. The same rule covers a crash while `sending`
                (Store.recover_interrupted at start-up), and a send whose host died or lost the database on a
                fleet of hosts (Store.recover_abandoned, once its lease ran out, looked for every second). An OTP
                is never resent after its deadline either way.
  DEVICE_STATE  the modem cannot send (SIM, barring, no SMSC): the attempt is refunded, the message goes back to the
                queue for another modem, and the modem is `paused` for `device_pause` seconds (its state says so,
                so /readyz and /v1/modems tell the truth; the worker stays away from the queue meanwhile)
  modem gone    (port lost, not registered, locked) the attempt is refunded: an unplugged modem burns no attempts
  hung modem    (no "> " prompt, or a timeout before anything was submitted, and the modem then does not answer
                "AT" either: domain.errors.went_unanswered + Modem.check_answering) the attempt is refunded like an
                unplugged modem's, and the modem is `not_responding` until the supervisor's probes get an answer.
                A modem that does answer the probes had its chance: that try counts (TRANSIENT below), so a modem
                that answers AT but never prompts for this message cannot hold it forever.
  TRANSIENT     back off exponentially with full jitter (base 5 s, x2, capped at 10 min), at most `max_attempts`
Per SIM, before each claim (health.py): a modem at one of its budgets (budget.py: parts per clock hour, day,
month) or in quarantine (quarantine.py: after `quarantine_after` failures in a row that are the SIM's or the
network's, not the message's own) claims nothing until the period or the pause ends; the others take its messages.
Deadlines: a message past its deadline is never claimed and ends `expired`; the validity period handed to the
network is the time left, rounded down (network_validity), so the SC drops it too instead of delivering a dead
code late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from ...domain.errors import StorageError
from ...domain.policy import Pacing, RetryPolicy, SimPolicy
from ...domain.sms import OutboundSms
from ...store import Store
from .worker import OutboxWorker, SendingModem

log = logging.getLogger(__name__)

# SIGTERM waits this long for the send in flight to finish and be recorded. A normal +CMGS answers in 1-5 s, but
# one part may take PROMPT_TIMEOUT + SUBMIT_TIMEOUT (70 s) on a slow network, and a send abandoned at stop is resent
# at the next start (a duplicate OTP on the user's phone). Two parts' worth; the unit's TimeoutStopSec=150s leaves
# 10 s for closing the modems and the store (tests/test_systemd_units.py checks the two agree).
STOP_GRACE = 140.0
# How often texts past the retention time are erased (sooner when the retention itself is short).
PURGE_INTERVAL = 3600.0


def _no_signal() -> int:
    """The signal of a modem that reports none: woken after those that do."""
    return -1


class Outbox:
    def __init__(self, store: Store, *, policy: RetryPolicy = RetryPolicy(), keep_sent_text: bool = True,
                 retention: float = 7 * 24 * 3600.0,
                 on_change: Callable[[OutboundSms, str], Awaitable[None] | None] | None = None):
        self.store = store
        self.policy = policy
        self.keep_sent_text = keep_sent_text
        self.retention = retention
        self._on_change = on_change
        # The text to send: an OTP's is sealed at rest (domain.otp_seal) and opened only here, at send time; the daemon
        # hands in OtpService.reveal. Plain SMS are sent as stored.
        self.reveal: Callable[[OutboundSms], str] = lambda sms: sms.text or ""
        self._workers: list[OutboxWorker] = []
        self._signal: dict[OutboxWorker, Callable[[], int]] = {}
        self._housekeeping: asyncio.Task | None = None

    def wake(self) -> None:
        """Called after an enqueue commits: idle workers look at the queue now, the strongest signal first. Their
        tasks resume in the order their events are set, and so claim in that order: of the modems that may send a
        message (its route), the best placed one tends to take it. A modem that cannot send does not claim at all
        (OutboxWorker._step)."""
        for worker in sorted(self._workers, key=lambda w: -self._signal.get(w, _no_signal)()):
            worker.wake.set()

    def add_modem(self, modem: SendingModem, pacing: Pacing = Pacing(), sim: SimPolicy = SimPolicy(), *,
                  routes: frozenset[str] | None = None, signal: Callable[[], int] | None = None) -> None:
        """`sim`: the SIM's budgets and quarantine (health.py). `routes`: what the modem may send
        (domain.routing.modem_keys; None: messages for it by name, or for any modem). `signal`: its current signal
        strength (CSQ 0..31, -1 unknown), for the order of wake()."""
        worker = OutboxWorker(self, modem, pacing, sim, routes)
        self._workers.append(worker)
        if signal is not None:
            self._signal[worker] = signal
        worker.start()

    def health(self, modem: str) -> dict | None:
        """The sending health of a modem (budgets, quarantine, last result: health.py), None if it has no worker."""
        for worker in self._workers:
            if worker.modem.name == modem:
                return worker.health.as_dict()
        return None

    async def recover(self) -> None:
        ids = await self.store.recover_interrupted(self.policy.max_attempts, self.policy.max_ambiguous)
        if ids:
            log.warning("%d message(s) were being sent when modemd stopped; resending them (may be duplicates)",
                        len(ids))

    def start(self) -> None:
        self._housekeeping = asyncio.create_task(self._expire_loop(), name="outbox-expiry")

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Workers finish the AT exchange in flight and record its result, then end. A send still running after
        `grace` seconds is abandoned: its message stays `sending` and start-up recovery handles it."""
        if self._housekeeping:
            self._housekeeping.cancel()
        stops = [asyncio.ensure_future(w.stop()) for w in self._workers]
        if stops:
            _, pending = await asyncio.wait(stops, timeout=grace)
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*stops, return_exceptions=True)

    def running(self) -> bool:
        """Every worker task (and the expiry loop) is alive; a crashed task means a bug, worth a restart."""
        if self._housekeeping is None:      # not started yet: nothing can have died
            return True
        return not self._housekeeping.done() and all(w.alive for w in self._workers)

    async def _expire_loop(self) -> None:
        next_purge = 0.0
        while True:
            try:
                next_purge = await self._housekeep(next_purge)
            except StorageError as exc:         # the database is away for now: the next round tries again
                log.warning("queue housekeeping: %s", exc)
            await asyncio.sleep(1.0)

    async def _housekeep(self, next_purge: float) -> float:
        for message_id in await self.store.expire_due():
            log.info("message %s expired before it could be sent", message_id)
            await self.notify(message_id, "expired")
        abandoned = await self.store.recover_abandoned(self.policy.max_attempts, self.policy.max_ambiguous)
        if abandoned:
            log.warning("%d message(s) were being sent by a host that stopped renewing its lease; resending them "
                        "(may be duplicates)", len(abandoned))
            self.wake()
        if time.monotonic() >= next_purge:
            purged = await self.store.purge_texts(time.time() - self.retention)
            if purged:
                log.info("erased the text of %d finished message(s) past the retention time", purged)
            next_purge = time.monotonic() + min(PURGE_INTERVAL, max(1.0, self.retention / 10))
        return next_purge

    async def notify(self, message_id: str, event: str) -> None:
        """Tell on_change (metrics, webhooks) that a message changed: `event` is sent, failed or expired."""
        if self._on_change:
            sms = await self.store.get(message_id)
            if sms:
                await self._notify(sms, event)

    async def _notify(self, sms: OutboundSms, event: str) -> None:
        if self._on_change:
            result = self._on_change(sms, event)
            if asyncio.iscoroutine(result):
                await result
