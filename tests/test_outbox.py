"""Outbox scheduling policy on a real store, with scripted modems (the AT path is covered end to end elsewhere)."""

from __future__ import annotations

import asyncio
import time


from modemd.domain.errors import AtTimeout, CmsError
from modemd.modem.modem import SendResult, SmsSendFailed
from modemd.domain.policy import Pacing, RetryPolicy
from modemd.services.outbox import Outbox
from modemd.domain.sms import Kind, OutboundSms, Priority, State, new_message_id
from conftest import until

FAST = RetryPolicy(base=0.05, cap=0.2, max_attempts=3, device_pause=0.3)


class ScriptedModem:
    """Sends succeed unless `failures` holds an exception for the next send."""

    def __init__(self, name="m0"):
        self.name = name
        self.can_send = True
        self.sent: list[tuple[str, str, int | None]] = []
        self.failures: list[BaseException] = []
        self.delay = 0.0

    async def send_sms(self, to, text, *, status_report=True, validity=None):
        await asyncio.sleep(self.delay)
        if self.failures:
            raise SmsSendFailed(self.failures.pop(0), 0, [])
        self.sent.append((to, text, validity))
        return SendResult(references=[len(self.sent) % 256], parts=1)


def make(text, *, priority=Priority.NORMAL, deadline=None, kind=Kind.SMS):
    now = time.time()
    return OutboundSms(id=new_message_id(), to="+4915112345678", text=text, parts=1, priority=priority, kind=kind,
                       next_attempt_at=now, deadline=deadline, created_at=now, updated_at=now)


async def run_outbox(store, modems, *, policy=FAST, pacing=Pacing()):
    outbox = Outbox(store, policy=policy)
    for modem in modems:
        outbox.add_modem(modem, pacing)
    outbox.start()
    return outbox


async def state_of(store, sms):
    return (await store.get(sms.id)).state


async def test_sends_and_purges_otp_text(store):
    modem = ScriptedModem()
    plain, otp = make("hello"), make("123456 is your code", kind=Kind.OTP, priority=Priority.HIGH)
    await store.enqueue(plain)
    await store.enqueue(otp)
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _all_in(store, [plain, otp], State.SENT))
    finally:
        await outbox.stop()
    assert [t for _, t, _ in modem.sent] == ["123456 is your code", "hello"]   # high priority first
    assert (await store.get(otp.id)).text is None and (await store.get(plain.id)).text == "hello"


async def _all_in(store, messages, state):
    return all([(await store.get(m.id)).state is state for m in messages])


async def test_bulk_cannot_starve_otp(store):
    modem = ScriptedModem()
    modem.delay = 0.01
    for i in range(30):
        await store.enqueue(make(f"bulk {i}"))
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _count_sent(modem, 3))
        otp = make("code", priority=Priority.HIGH)
        await store.enqueue(otp)
        outbox.wake()
        await until(lambda: _all_in(store, [otp], State.SENT))
    finally:
        await outbox.stop()
    position = [t for _, t, _ in modem.sent].index("code")
    assert position <= 5, position


async def _count_sent(modem, n):
    return len(modem.sent) >= n


async def test_transient_errors_back_off_then_succeed(store):
    modem = ScriptedModem()
    modem.failures = [CmsError(42), CmsError(512)]
    sms = make("retry me")
    await store.enqueue(sms)
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _all_in(store, [sms], State.SENT))
    finally:
        await outbox.stop()
    got = await store.get(sms.id)
    assert got.attempts == 3 and len(modem.sent) == 1


async def test_attempts_are_capped(store):
    modem = ScriptedModem()
    modem.failures = [CmsError(42)] * 5
    sms = make("doomed")
    await store.enqueue(sms)
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _all_in(store, [sms], State.FAILED))
    finally:
        await outbox.stop()
    got = await store.get(sms.id)
    assert got.attempts == 3 and "gave up" in got.error_text and got.error_code == "CMS 42"


async def test_permanent_error_fails_at_once(store):
    modem = ScriptedModem()
    modem.failures = [CmsError(1)]
    sms = make("bad number")
    await store.enqueue(sms)
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _all_in(store, [sms], State.FAILED))
    finally:
        await outbox.stop()
    assert (await store.get(sms.id)).attempts == 1 and modem.sent == []


async def test_device_state_error_moves_the_message_to_another_modem(store):
    barred, healthy = ScriptedModem("barred"), ScriptedModem("healthy")
    barred.failures = [CmsError(50)]          # no SMS subscription on that SIM
    healthy.can_send = False
    sms = make("go elsewhere")
    await store.enqueue(sms)
    outbox = await run_outbox(store, [barred, healthy], policy=RetryPolicy(base=0.05, device_pause=30))
    try:
        await until(lambda: _has_error(store, sms))
        healthy.can_send = True
        await until(lambda: _all_in(store, [sms], State.SENT))
    finally:
        await outbox.stop()
    got = await store.get(sms.id)
    assert got.modem == "healthy" and got.attempts == 1   # the barred SIM's try was refunded


async def _has_error(store, sms):
    return (await store.get(sms.id)).error_code == "CMS 50"


async def test_unavailable_modem_burns_no_attempts(store):
    modem = ScriptedModem()
    modem.can_send = False
    sms = make("wait for me")
    await store.enqueue(sms)
    outbox = await run_outbox(store, [modem])
    try:
        await asyncio.sleep(0.3)
        assert (await store.get(sms.id)).attempts == 0
        modem.can_send = True
        await until(lambda: _all_in(store, [sms], State.SENT))
    finally:
        await outbox.stop()


async def test_ambiguous_timeout_is_resent_once_flagged_as_possible_duplicate(store):
    modem = ScriptedModem()
    modem.failures = [AtTimeout("no +CMGS", after_payload=True), AtTimeout("again", after_payload=True)]
    one, two = make("maybe sent"), make("maybe twice")
    await store.enqueue(one)
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _all_in(store, [one], State.FAILED))
        await store.enqueue(two)
        outbox.wake()
        await until(lambda: _all_in(store, [two], State.SENT))
    finally:
        await outbox.stop()
    first = await store.get(one.id)
    assert first.possible_duplicate and "not resending" in first.error_text
    assert (await store.get(two.id)).possible_duplicate is False


async def test_expired_message_is_never_sent(store):
    modem = ScriptedModem()
    modem.can_send = False
    otp = make("111111 is your code", kind=Kind.OTP, deadline=time.time() + 0.3)
    await store.enqueue(otp)
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _all_in(store, [otp], State.EXPIRED))
        modem.can_send = True
        await asyncio.sleep(0.2)
    finally:
        await outbox.stop()
    assert modem.sent == [] and (await store.get(otp.id)).text is None


async def test_validity_is_the_time_left(store):
    modem = ScriptedModem()
    sms = make("ttl", deadline=time.time() + 900)
    await store.enqueue(sms)
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _all_in(store, [sms], State.SENT))
    finally:
        await outbox.stop()
    assert 890 <= modem.sent[0][2] <= 900


async def test_pacing_spaces_sends(store):
    modem = ScriptedModem()
    for i in range(3):
        await store.enqueue(make(f"p{i}"))
    outbox = await run_outbox(store, [modem], pacing=Pacing(per_minute=300))   # one per 0.2 s
    started = time.monotonic()
    try:
        await until(lambda: _count_sent(modem, 3))
    finally:
        await outbox.stop()
    assert time.monotonic() - started >= 0.38


async def test_two_modems_share_the_queue(store):
    a, b = ScriptedModem("a"), ScriptedModem("b")
    a.delay = b.delay = 0.02
    messages = [make(f"m{i}") for i in range(20)]
    for m in messages:
        await store.enqueue(m)
    outbox = await run_outbox(store, [a, b])
    try:
        await until(lambda: _all_in(store, messages, State.SENT))
    finally:
        await outbox.stop()
    assert len(a.sent) + len(b.sent) == 20 and a.sent and b.sent


async def test_texts_are_erased_after_the_retention_time(store):
    modem = ScriptedModem()
    sms = make("keep me a little")
    await store.enqueue(sms)
    outbox = Outbox(store, policy=FAST, retention=0.5)
    outbox.add_modem(modem)
    outbox.start()
    try:
        await until(lambda: _all_in(store, [sms], State.SENT))
        assert (await store.get(sms.id)).text == "keep me a little"
        await until(_text_gone(store, sms), timeout=5)
    finally:
        await outbox.stop()
    got = await store.get(sms.id)
    assert got.state is State.SENT and got.to == sms.to


def _text_gone(store, sms):
    async def check():
        return (await store.get(sms.id)).text is None
    return check


async def test_a_send_the_database_cannot_record_is_recorded_once_it_can_and_not_sent_again(store, monkeypatch,
                                                                                           caplog):
    import modemd.services.outbox.worker
    monkeypatch.setattr(modemd.services.outbox.worker, "STORAGE_PAUSE", 0.05)
    modem = ScriptedModem()
    modem.delay = 0.3                      # the database fails while the modem is sending
    sms = make("hello")
    await store.enqueue(sms)
    outbox = await run_outbox(store, [modem])
    try:
        await until(lambda: _state_is(store, sms, State.SENDING))
        store.db._wconn.execute("PRAGMA query_only = ON")      # every write now fails: SQLITE_READONLY
        with caplog.at_level("ERROR", logger="modemd.services.outbox"):
            await until(lambda: _logged(caplog, "recording its outcome again"))
            assert modem.sent and await state_of(store, sms) is State.SENDING
            store.db._wconn.execute("PRAGMA query_only = OFF")
            await until(lambda: _state_is(store, sms, State.SENT))
        assert len(modem.sent) == 1                             # recorded late, never sent twice
    finally:
        await outbox.stop()


async def _state_is(store, sms, state):
    return await state_of(store, sms) is state


async def _logged(caplog, text):
    return any(text in r.getMessage() for r in caplog.records)
