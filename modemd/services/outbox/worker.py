"""One modem's sending loop: claim -> send -> sent / retry later / failed, paced, with the failure rules of
outbox.py's docstring; and the validity period a message is submitted with."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Protocol

from ...domain.errors import (AtTimeout, ChannelClosed, CmeError, CmsError, ErrorClass, PhoneRefused, PhoneSendFailed,
                              PromptNotReceived, StorageError, classify, cms_already_accepted, went_unanswered)
from ...domain.otp_seal import SealBroken
from ...domain.policy import Pacing, RetryPolicy, SimPolicy
from ...domain.redact import mask_number
from ...domain.routing import modem_keys
from ...domain.sms import Kind, OutboundSms
from ...modem.modem import SendResult, SmsSendFailed
from ...store import Store
from .health import ModemHealth

log = logging.getLogger(__name__)

# The database refused a write (disk full, I/O error): how long a worker waits before it tries again.
STORAGE_PAUSE = 5.0


class SendingModem(Protocol):
    """What a worker needs of a modem (modem.Modem is one)."""
    name: str

    @property
    def can_send(self) -> bool: ...

    async def send_sms(self, to: str, text: str, *, status_report: bool = True, validity: int | None = None): ...

    def pause(self, seconds: float, reason: str) -> None:
        """A device error (SIM, barring, no SMSC): the modem says it cannot send for `seconds` (its state shows it)."""

    async def check_answering(self, reason: str) -> bool:
        """After a command went unanswered: does the modem answer "AT" at all? False marks it not responding."""


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


class OutboxView(Protocol):
    """What a worker uses of the outbox that owns it (Outbox): the queue, the policies a reload may change, the
    text to send, and the two ways to tell others (a change happened; the queue may have work for another modem)."""
    store: Store
    policy: RetryPolicy
    keep_sent_text: bool
    reveal: Callable[[OutboundSms], str]

    async def notify(self, message_id: str, event: str) -> None: ...

    def wake(self) -> None: ...


class OutboxWorker:
    """One modem's loop: claim the next due message, send it, record what happened (the module docstring of
    outbox.py has the rules)."""

    def __init__(self, outbox: OutboxView, modem: SendingModem, pacing: Pacing, sim: SimPolicy = SimPolicy(),
                 routes: frozenset[str] | None = None):
        self.outbox = outbox
        self.modem = modem
        # The routes this modem serves (domain.routing.modem_keys: its name and its groups): it claims messages
        # routed to one of them or to no modem in particular, and leaves the others to their modems.
        self.routes = modem_keys(modem.name) if routes is None else routes
        self.log = logging.LoggerAdapter(log, {"modem": modem.name})   # MODEMD_MODEM in the journal
        # The SIM's budgets and quarantine: asked before each claim, told every outcome (health.py).
        self.health = ModemHealth(modem.name, sim, lambda since: outbox.store.sent_parts(modem.name, since),
                                  self.log)
        self.pacing = pacing
        self.wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._next_send_at = 0.0
        self._recording: set[asyncio.Task] = set()     # sends whose result is being written (_record_behind)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self.modem.name}")

    async def stop(self) -> None:
        self._stopping = True
        self.wake.set()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def cancel(self) -> None:
        if self._task and not self._task.done():
            self.log.warning("[%s] send still in flight at shutdown; it will be resumed at next start", self.modem.name)
            self._task.cancel()

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            # A stop waits for the results being written too: a send is over when its outcome is recorded.
            await asyncio.gather(*list(self._recording), return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self._step()
            except StorageError as exc:     # disk full or failing: nothing to claim until it is fixed
                self.log.error("[%s] %s; sending paused, trying again in %.0f s", self.modem.name, exc, STORAGE_PAUSE)
                await self._idle(STORAGE_PAUSE)
            except Exception:   # a bug must not silently stop a modem's sending for good
                self.log.exception("[%s] outbox worker error; continuing in 5 s", self.modem.name)
                await self._idle(5.0)

    async def _step(self) -> None:
        if not self.modem.can_send:
            await self._idle(1.0)
            return
        held = await self.health.hold_off()     # quarantined, or at a budget: a timer to its end
        if held > 0:
            await self._idle(held)
            return
        delay = self._next_send_at - time.monotonic()
        if delay > 0:
            await self._idle(delay)
            return
        sms = await self.outbox.store.claim_next(self.modem.name, routes=self.routes)
        if sms is None:
            await self._idle(await self._time_to_next_due())
            return
        self._next_send_at = time.monotonic() + self.pacing.interval
        await self._send(sms)

    async def _time_to_next_due(self) -> float:
        # Of what this modem may send: a message due for another modem must not keep this one spinning.
        due = await self.outbox.store.next_due_at(self.routes)
        return 30.0 if due is None else min(30.0, max(0.0, due - time.time()))

    async def _idle(self, seconds: float) -> None:
        self.wake.clear()
        if self._stopping or seconds <= 0:
            return
        try:        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancel of a stop()
            async with asyncio.timeout(seconds):
                await self.wake.wait()
        except TimeoutError:
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
            self._note_failure(sms, failure, gone=hung or not self.modem.can_send)
            await self._record(sms, lambda: self._handle_failure(sms, failure, hung))
            return
        self.health.sent(result.parts)     # now, not when recorded: the next claim asks the budget first
        self._record_behind(sms, lambda: self._sent(sms, result))

    def _record_behind(self, sms: OutboundSms, outcome: Callable[[], Awaitable[None]]) -> None:
        """Write a successful send's result while the modem goes on to the next message: the modem is free once it
        has answered, and the commit of "sent" (an fsync, milliseconds) need not stand between two sends. The next
        claim commits with it (SQLite's group commit) or beside it (PostgreSQL). A crash before it commits leaves
        the message `sending`, as a crash a moment earlier would: recovered as a possible duplicate."""
        task = asyncio.create_task(self._record(sms, outcome), name=f"record-{sms.id}")
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def _hung(self, exc: SmsSendFailed) -> bool:
        """A command went unanswered (no prompt, a timeout before the payload): does the modem answer at all? Its
        check_answering() probes and, on silence, marks it not responding (can_send turns false)."""
        if not went_unanswered(exc.cause):
            return False
        return not await self.modem.check_answering(f"does not answer AT commands ({exc.cause})")

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
                self.log.error("[%s] %s; message %s: recording its outcome again in %.0f s", self.modem.name, exc,
                               sms.id, STORAGE_PAUSE)
                await asyncio.sleep(STORAGE_PAUSE)

    async def _sent(self, sms: OutboundSms, result: SendResult) -> None:
        store = self.outbox.store
        purge = sms.kind is Kind.OTP or not self.outbox.keep_sent_text
        await store.mark_sent(sms.id, result.references, purge_text=purge)
        self.log.info("[%s] message %s to %s sent (%d part(s), mr %s)", self.modem.name, sms.id, mask_number(sms.to),
                      result.parts, ",".join(map(str, result.references)))
        await self.outbox.notify(sms.id, "sent")

    async def _handle_failure(self, sms: OutboundSms, exc: SmsSendFailed, hung: bool = False) -> None:
        kind = classify(exc.cause)
        code = _error_code(exc.cause)
        reason = str(exc.cause)
        self.log.warning("[%s] message %s to %s: %s (%s)", self.modem.name, sms.id, mask_number(sms.to), reason,
                         "modem not responding" if hung else kind.name.lower())
        if cms_already_accepted(exc.cause):
            # CMS 197: the SC already holds a message with this reference (TP-RD): the earlier try went out.
            await self.outbox.store.mark_sent(sms.id, exc.references, purge_text=sms.kind is Kind.OTP)
            await self.outbox.notify(sms.id, "sent")
        elif kind is ErrorClass.PERMANENT:
            await self._fail(sms, reason, code)
        elif kind is ErrorClass.AMBIGUOUS or exc.parts_sent:
            # Before the refunds below: a message that may have left is never requeued as if it had not (a port
            # lost after Ctrl-Z leaves the modem offline, which alone would have refunded it, unflagged).
            await self._retry_ambiguous(sms, reason, code)
        elif kind is ErrorClass.DEVICE_STATE:
            await self.outbox.store.mark_retry(sms.id, time.time(), reason, error_code=code, refund_attempt=True)
            self._next_send_at = time.monotonic() + self.outbox.policy.device_pause
            self.modem.pause(self.outbox.policy.device_pause, reason)
            self.outbox.wake()   # another modem may take it now
        elif hung or not self.modem.can_send:
            # Unplugged, or not answering at all: the message never got its try. The modem's state keeps this
            # worker away (can_send is false) until it is back; no pause on top, so it sends as soon as it is.
            await self.outbox.store.mark_retry(sms.id, time.time(), reason, error_code=code, refund_attempt=True)
            self.outbox.wake()   # another modem may take it now
        else:
            await self._retry(sms, reason, code)

    def _note_failure(self, sms: OutboundSms, exc: SmsSendFailed, gone: bool) -> None:
        """Tell the modem's health (budget, quarantine, last result), once, before the store is (perhaps
        repeatedly: _record) told: a send that may have left counts against the budget whatever the message's fate;
        `gone`: the modem was unplugged or hung, which is no failure of the SIM's."""
        if cms_already_accepted(exc.cause):
            self.health.sent(sms.parts)
            return
        ambiguous = classify(exc.cause) is ErrorClass.AMBIGUOUS or exc.parts_sent
        self.health.failed(exc.cause, _error_code(exc.cause), maybe_left=sms.parts if ambiguous else 0,
                           modem_gone=gone)

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
            await self.outbox.notify(sms.id, "failed")


def _error_code(exc: BaseException) -> str:
    """A short, stable code for the API and metrics: 'CMS 42', 'CME 14', 'RESULT_ERROR_NO_SERVICE', 'timeout', ..."""
    if isinstance(exc, CmsError):
        return f"CMS {exc.code}" if exc.code is not None else "CMS"
    if isinstance(exc, CmeError):
        return f"CME {exc.code}" if exc.code is not None else "CME"
    if isinstance(exc, PhoneSendFailed):       # the phone's RESULT_* cause, as stable as a CMS code
        return exc.cause or "phone_error"
    if isinstance(exc, PhoneRefused):
        return f"HTTP {exc.status}"
    for kind, code in ((AtTimeout, "timeout"), (ChannelClosed, "modem_lost"), (PromptNotReceived, "no_prompt")):
        if isinstance(exc, kind):
            return code
    return "error"
