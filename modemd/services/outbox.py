"""Feeds queued messages to the modems: claim -> send -> sent / retry later / failed. One worker per modem.

Retry policy by error class (errors.classify, table in errors.py), checked in this order:
  PERMANENT     failed at once, with the modem's reason
  AMBIGUOUS     (timeout after the PDU went out, CMS 332, a port lost during the submission, or a multipart message
                of which some parts went out) the message may have left. Policy: at-least-once, bounded.
                It is re-queued flagged possible_duplicate, and counts as an attempt; after `max_ambiguous` such
                outcomes it is failed instead of resent. The same rule covers a crash while `sending`
                (Store.recover_interrupted at start-up). An OTP is never resent after its deadline either way.
  DEVICE_STATE  the modem cannot send (SIM, barring, no SMSC): the attempt is refunded, the message goes back to the
                queue for another modem, and the modem is `paused` for `device_pause` seconds (its state says so,
                so /readyz and /v1/modems tell the truth; the worker stays away from the queue meanwhile)
  modem gone    (port lost, not registered, locked) the attempt is refunded: an unplugged modem burns no attempts
  hung modem    (no "> " prompt, or a timeout before anything was submitted, and the modem then does not answer
                "AT" either: errors.went_unanswered + Modem.check_answering) the attempt is refunded like an
                unplugged modem's, and the modem is `not_responding` until the supervisor's probes get an answer.
                A modem that does answer the probes had its chance: that try counts (TRANSIENT below), so a modem
                that answers AT but never prompts for this message cannot hold it forever.
  TRANSIENT     back off exponentially with full jitter (base 5 s, x2, capped at 10 min), at most `max_attempts`
Deadlines: a message past its deadline is never claimed and ends `expired`; the validity period handed to the
network is the time left, rounded down (network_validity), so the SC drops it too instead of delivering a dead
code late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Protocol

from ..domain.errors import (AtTimeout, ChannelClosed, CmeError, CmsError, ErrorClass, PromptNotReceived, StorageError,
                             classify, cms_already_accepted, went_unanswered)
from ..modem.modem import SendResult, SmsSendFailed
from ..domain.otp_seal import SealBroken
from ..domain.policy import Pacing, RetryPolicy
from ..domain.redact import mask_number
from ..domain.sms import Kind, OutboundSms
from ..store import Store

log = logging.getLogger(__name__)

# SIGTERM waits this long for the send in flight to finish and be recorded. A normal +CMGS answers in 1-5 s, but
# one part may take PROMPT_TIMEOUT + SUBMIT_TIMEOUT (70 s) on a slow network, and a send abandoned at stop is resent
# at the next start (a duplicate OTP on the user's phone). Two parts' worth; the unit's TimeoutStopSec=150s leaves
# 10 s for closing the modems and the store (tests/test_systemd_units.py checks the two agree).
STOP_GRACE = 140.0
# The database refused a write (disk full, I/O error): how long a worker waits before it tries again.
STORAGE_PAUSE = 5.0
# How often texts past the retention time are erased (sooner when the retention itself is short).
PURGE_INTERVAL = 3600.0


class SendingModem(Protocol):
    """What a worker needs of a modem. Optional, used when present (modem_state.ModemStateTracker has them):
    `pause(seconds, reason)` (its state shows a device pause) and `async check_answering(reason) -> bool` (a
    probe after an unanswered command; without it a timeout counts as a try, as before)."""
    name: str

    @property
    def can_send(self) -> bool: ...

    async def send_sms(self, to: str, text: str, *, status_report: bool = True, validity: int | None = None): ...


def network_validity(deadline: float | None, now: float) -> int | None:
    """The validity period (seconds) a message is submitted with: None without a deadline, else the time left,
    whole seconds rounded down; pdu.validity_octet then rounds it DOWN again to a relative TP-VP (a code with 420 s
    left goes out with 5 minutes, not 10). Plain SMS with a ttl follow the same rule: the ttl is the client's "not
    after", and down is the only rounding that keeps it.

    Less than 5 minutes left (the shortest relative period, pdu.MIN_VALIDITY): the message is still sent, with
    5 minutes. Not sending is a certain loss (the user waits for a code that never comes, while most SMS reach the
    handset within seconds of the submission); sending risks only a late copy of a code that has died meanwhile, at
    most 5 minutes minus the time that was left, and a dead code does no harm: verify answers "expired" and the
    user asks for a new one. What must never happen is a code sent after its expiry, and that cannot: a message
    past its deadline is never claimed (it ends `expired`): what is dead is dropped, what is alive is sent. The
    enhanced format (TP-VPF 01, relative seconds, TS 23.040 9.2.3.12.3) could say "2 minutes", but an SC or modem
    without it answers CMS 198 (TP-VPF not supported), which fails the message: not worth the risk for a code."""
    if deadline is None:
        return None
    return max(0, int(deadline - now))


class Outbox:
    def __init__(self, store: Store, *, policy: RetryPolicy = RetryPolicy(), keep_sent_text: bool = True,
                 retention: float = 7 * 24 * 3600.0,
                 on_change: Callable[[OutboundSms, str], Awaitable[None] | None] | None = None):
        self.store = store
        self.policy = policy
        self.keep_sent_text = keep_sent_text
        self.retention = retention
        self._on_change = on_change
        # The text to send: an OTP's is sealed at rest (otp_seal) and opened only here, at send time; the daemon
        # hands in OtpService.reveal. Plain SMS are sent as stored.
        self.reveal: Callable[[OutboundSms], str] = lambda sms: sms.text or ""
        self._wake = asyncio.Event()
        self._workers: list[OutboxWorker] = []
        self._housekeeping: asyncio.Task | None = None

    def wake(self) -> None:
        """Called after an enqueue commits: idle workers look at the queue now."""
        self._wake.set()
        for worker in self._workers:
            worker.wake.set()

    def add_modem(self, modem: SendingModem, pacing: Pacing = Pacing()) -> None:
        worker = OutboxWorker(self, modem, pacing)
        self._workers.append(worker)
        worker.start()

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
        tasks = [w._task for w in self._workers] + [self._housekeeping]
        return all(t is not None and not t.done() for t in tasks)

    async def _expire_loop(self) -> None:
        next_purge = 0.0
        while True:
            for message_id in await self.store.expire_due():
                log.info("message %s expired before it could be sent", message_id)
                await self._notify_id(message_id, "expired")
            if time.monotonic() >= next_purge:
                purged = await self.store.purge_texts(time.time() - self.retention)
                if purged:
                    log.info("erased the text of %d finished message(s) past the retention time", purged)
                next_purge = time.monotonic() + min(PURGE_INTERVAL, max(1.0, self.retention / 10))
            await asyncio.sleep(1.0)

    async def _notify_id(self, message_id: str, event: str) -> None:
        if self._on_change:
            sms = await self.store.get(message_id)
            if sms:
                await self._notify(sms, event)

    async def _notify(self, sms: OutboundSms, event: str) -> None:
        if self._on_change:
            result = self._on_change(sms, event)
            if asyncio.iscoroutine(result):
                await result


class OutboxWorker:
    def __init__(self, outbox: Outbox, modem: SendingModem, pacing: Pacing):
        self.outbox = outbox
        self.modem = modem
        self.pacing = pacing
        self.wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._next_send_at = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self.modem.name}")

    async def stop(self) -> None:
        self._stopping = True
        self.wake.set()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)

    def cancel(self) -> None:
        if self._task and not self._task.done():
            log.warning("[%s] send still in flight at shutdown; it will be resumed at next start", self.modem.name)
            self._task.cancel()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._step()
            except StorageError as exc:     # disk full or failing: nothing to claim until it is fixed
                log.error("[%s] %s; sending paused, trying again in %.0f s", self.modem.name, exc, STORAGE_PAUSE)
                await self._idle(STORAGE_PAUSE)
            except Exception:   # a bug must not silently stop a modem's sending for good
                log.exception("[%s] outbox worker error; continuing in 5 s", self.modem.name)
                await self._idle(5.0)

    async def _step(self) -> None:
        if not self.modem.can_send:
            await self._idle(1.0)
            return
        delay = self._next_send_at - time.monotonic()
        if delay > 0:
            await self._idle(delay)
            return
        sms = await self.outbox.store.claim_next(self.modem.name)
        if sms is None:
            await self._idle(await self._time_to_next_due())
            return
        self._next_send_at = time.monotonic() + self.pacing.interval
        await self._send(sms)

    async def _time_to_next_due(self) -> float:
        due = await self.outbox.store.next_due_at()
        return 30.0 if due is None else min(30.0, max(0.0, due - time.time()))

    async def _idle(self, seconds: float) -> None:
        self.wake.clear()
        if self._stopping or seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _send(self, sms: OutboundSms) -> None:
        validity = network_validity(sms.deadline, time.time())
        try:
            text = self.outbox.reveal(sms)
        except SealBroken as exc:            # nothing any modem could send: say so, do not retry
            reason = str(exc)
            await self._record(sms, lambda: self._fail(sms, reason, "sealed"))
            return
        try:
            result = await self.modem.send_sms(sms.to, text, validity=validity)
        except SmsSendFailed as exc:
            failure = exc
            hung = await self._hung(failure)
            await self._record(sms, lambda: self._handle_failure(sms, failure, hung))
            return
        await self._record(sms, lambda: self._sent(sms, result))

    async def _hung(self, exc: SmsSendFailed) -> bool:
        """A command went unanswered (no prompt, a timeout before the payload): does the modem answer at all? Its
        check_answering() probes and, on silence, marks it not responding (can_send turns false)."""
        if not went_unanswered(exc.cause):
            return False
        check = getattr(self.modem, "check_answering", None)
        if check is None:
            return False
        return not await check(f"does not answer AT commands ({exc.cause})")

    async def _record(self, sms: OutboundSms, outcome: Callable[[], Awaitable[None]]) -> None:
        """Write what the modem did. It has acted already, so a database that cannot take the write (disk full) is
        asked again until it can; if modemd stops first, start-up recovery treats the message as maybe sent."""
        while True:
            try:
                await outcome()
                return
            except StorageError as exc:
                if self._stopping:
                    raise
                log.error("[%s] %s; message %s: recording its outcome again in %.0f s", self.modem.name, exc,
                          sms.id, STORAGE_PAUSE)
                await asyncio.sleep(STORAGE_PAUSE)

    async def _sent(self, sms: OutboundSms, result: SendResult) -> None:
        store = self.outbox.store
        purge = sms.kind is Kind.OTP or not self.outbox.keep_sent_text
        await store.mark_sent(sms.id, result.references, purge_text=purge)
        log.info("[%s] message %s to %s sent (%d part(s), mr %s)", self.modem.name, sms.id, mask_number(sms.to),
                 result.parts, ",".join(map(str, result.references)))
        await self.outbox._notify_id(sms.id, "sent")

    async def _handle_failure(self, sms: OutboundSms, exc: SmsSendFailed, hung: bool = False) -> None:
        kind = classify(exc.cause)
        code = _error_code(exc.cause)
        reason = str(exc.cause)
        log.warning("[%s] message %s to %s: %s (%s)", self.modem.name, sms.id, mask_number(sms.to), reason,
                    "modem not responding" if hung else kind.name.lower())
        if cms_already_accepted(exc.cause):
            # CMS 197: the SC already holds a message with this reference (TP-RD): the earlier try went out.
            await self.outbox.store.mark_sent(sms.id, exc.references, purge_text=sms.kind is Kind.OTP)
            await self.outbox._notify_id(sms.id, "sent")
        elif kind is ErrorClass.PERMANENT:
            await self._fail(sms, reason, code)
        elif kind is ErrorClass.AMBIGUOUS or exc.parts_sent:
            # Before the refunds below: a message that may have left is never requeued as if it had not (a port
            # lost after Ctrl-Z leaves the modem offline, which alone would have refunded it, unflagged).
            await self._retry_ambiguous(sms, reason, code)
        elif kind is ErrorClass.DEVICE_STATE:
            await self.outbox.store.mark_retry(sms.id, time.time(), reason, error_code=code, refund_attempt=True)
            self._next_send_at = time.monotonic() + self.outbox.policy.device_pause
            pause = getattr(self.modem, "pause", None)
            if pause is not None:
                pause(self.outbox.policy.device_pause, reason)
            self.outbox.wake()   # another modem may take it now
        elif hung or not self.modem.can_send:
            # Unplugged, or not answering at all: the message never got its try. The modem's state keeps this
            # worker away (can_send is false) until it is back; no pause on top, so it sends as soon as it is.
            await self.outbox.store.mark_retry(sms.id, time.time(), reason, error_code=code, refund_attempt=True)
            self.outbox.wake()   # another modem may take it now
        else:
            await self._retry(sms, reason, code)

    async def _retry(self, sms: OutboundSms, reason: str, code: str | None) -> None:
        policy = self.outbox.policy
        if sms.attempts >= policy.max_attempts:
            await self._fail(sms, f"{reason}; gave up after {sms.attempts} attempts", code)
            return
        await self.outbox.store.mark_retry(sms.id, time.time() + policy.backoff(sms.attempts), reason,
                                           error_code=code)

    async def _retry_ambiguous(self, sms: OutboundSms, reason: str, code: str | None) -> None:
        if sms.ambiguous >= self.outbox.policy.max_ambiguous:
            await self._fail(sms, f"{reason}; may have been sent, not resending again", code)
            return
        await self.outbox.store.mark_retry(sms.id, time.time(), f"possibly sent: {reason}", error_code=code,
                                           possibly_sent=True)

    async def _fail(self, sms: OutboundSms, reason: str, code: str | None) -> None:
        if await self.outbox.store.mark_failed(sms.id, reason, error_code=code, purge_text=sms.kind is Kind.OTP):
            await self.outbox._notify_id(sms.id, "failed")


def _error_code(exc: BaseException) -> str:
    """A short, stable code for the API and metrics: 'CMS 42', 'CME 14', 'timeout', ..."""
    if isinstance(exc, CmsError):
        return f"CMS {exc.code}" if exc.code is not None else "CMS"
    if isinstance(exc, CmeError):
        return f"CME {exc.code}" if exc.code is not None else "CME"
    for kind, code in ((AtTimeout, "timeout"), (ChannelClosed, "modem_lost"), (PromptNotReceived, "no_prompt")):
        if isinstance(exc, kind):
            return code
    return "error"
