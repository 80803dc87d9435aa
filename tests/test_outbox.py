"""Outbox scheduling policy on a real store, with scripted modems (the AT path is covered end to end elsewhere)."""

from __future__ import annotations

import asyncio
import logging
import time

from kit import in_state, outbound, recorded, running_outbox, until
from modemd.domain.errors import AtTimeout, CmsError
from modemd.domain.sms import Kind, Priority, State
from modemd.modem.modem import SendResult, SmsSendFailed
from modemd.domain.policy import Pacing, RetryPolicy


class ScriptedModem:
    """Sends succeed unless `failures` holds an exception for the next send. `looked` counts how often the outbox
    asked whether it can send: a worker that asked has run a step, whatever it then decided. It always answers a
    probe, and a pause is only recorded (test_truthful_states.py drives a real Modem's state for those)."""

    def __init__(self, name="m0"):
        self.name = name
        self._can_send = True
        self.looked = 0
        self.sent: list[tuple[str, str, int | None]] = []
        self.failures: list[BaseException] = []
        self.delay = 0.0
        self.pauses: list[tuple[float, str]] = []

    def pause(self, seconds: float, reason: str) -> None:
        self.pauses.append((seconds, reason))

    async def check_answering(self, reason: str) -> bool:
        return True

    @property
    def can_send(self) -> bool:
        self.looked += 1
        return self._can_send

    @can_send.setter
    def can_send(self, value: bool) -> None:
        self._can_send = value

    async def send_sms(self, to, text, *, status_report=True, validity=None):
        await asyncio.sleep(self.delay)
        if self.failures:
            raise SmsSendFailed(self.failures.pop(0), 0, [])
        self.sent.append((to, text, validity))
        return SendResult(references=[len(self.sent) % 256], parts=1)


async def settle(store, failures: list[BaseException], final: State):
    """One message through a modem that fails with `failures` first: its row once it is `final`, and the modem."""
    modem = ScriptedModem()
    modem.failures = failures
    sms = outbound("try me")
    await store.enqueue(sms)
    async with running_outbox(store, [modem]):
        await until(in_state(store, sms, state=final))
    return await store.get(sms.id), modem


def sent_count(modem, n):
    return lambda: len(modem.sent) >= n


async def test_sends_and_purges_otp_text(store):
    modem = ScriptedModem()
    plain, otp = outbound("hello"), outbound("123456 is your code", kind=Kind.OTP, priority=Priority.HIGH)
    await store.enqueue(plain)
    await store.enqueue(otp)
    async with running_outbox(store, [modem]):
        await until(in_state(store, plain, otp, state=State.SENT))
    assert [t for _, t, _ in modem.sent] == ["123456 is your code", "hello"]   # high priority first
    assert (await store.get(otp.id)).text is None and (await store.get(plain.id)).text == "hello"


async def test_bulk_cannot_starve_otp(store):
    modem = ScriptedModem()
    modem.delay = 0.01
    for i in range(30):
        await store.enqueue(outbound(f"bulk {i}"))
    async with running_outbox(store, [modem]) as outbox:
        await until(sent_count(modem, 3))
        otp = outbound("code", priority=Priority.HIGH)
        await store.enqueue(otp)
        outbox.wake()
        await until(in_state(store, otp, state=State.SENT))
    position = [t for _, t, _ in modem.sent].index("code")
    assert position <= 5, position


async def test_transient_errors_back_off_then_succeed(store):
    got, modem = await settle(store, [CmsError(42), CmsError(512)], State.SENT)
    assert got.attempts == 3 and len(modem.sent) == 1


async def test_attempts_are_capped(store):
    got, _ = await settle(store, [CmsError(42)] * 5, State.FAILED)
    assert got.attempts == 3 and "gave up" in got.error_text and got.error_code == "CMS 42"


async def test_permanent_error_fails_at_once(store):
    got, modem = await settle(store, [CmsError(1)], State.FAILED)
    assert got.attempts == 1 and modem.sent == []


async def test_device_state_error_moves_the_message_to_another_modem(store):
    barred, healthy = ScriptedModem("barred"), ScriptedModem("healthy")
    barred.failures = [CmsError(50)]          # no SMS subscription on that SIM
    healthy.can_send = False
    sms = outbound("go elsewhere")
    await store.enqueue(sms)
    async with running_outbox(store, [barred, healthy], policy=RetryPolicy(base=0.05, device_pause=30)):
        await until(recorded(store, sms, error_code="CMS 50"))
        healthy.can_send = True
        await until(in_state(store, sms, state=State.SENT))
    got = await store.get(sms.id)
    assert got.modem == "healthy" and got.attempts == 1   # the barred SIM's try was refunded
    assert barred.pauses == [(30, str(CmsError(50)))] and healthy.pauses == []     # and its state says why


async def test_unavailable_modem_burns_no_attempts(store):
    modem = ScriptedModem()
    modem.can_send = False
    sms = outbound("wait for me")
    await store.enqueue(sms)
    async with running_outbox(store, [modem]) as outbox:
        await until(lambda: modem.looked >= 1)      # the worker ran a step and found the modem unable to send
        outbox.wake()
        await until(lambda: modem.looked >= 2)      # and again when woken: it declined both times
        assert (await store.get(sms.id)).attempts == 0 and modem.sent == []
        modem.can_send = True
        await until(in_state(store, sms, state=State.SENT))


async def test_ambiguous_timeout_is_resent_once_flagged_as_possible_duplicate(store):
    modem = ScriptedModem()
    modem.failures = [AtTimeout("no +CMGS", after_payload=True), AtTimeout("again", after_payload=True)]
    one, two = outbound("maybe sent"), outbound("maybe twice")
    await store.enqueue(one)
    async with running_outbox(store, [modem]) as outbox:
        await until(in_state(store, one, state=State.FAILED))
        await store.enqueue(two)
        outbox.wake()
        await until(in_state(store, two, state=State.SENT))
    first = await store.get(one.id)
    assert first.possible_duplicate and "not resending" in first.error_text
    assert (await store.get(two.id)).possible_duplicate is False


async def test_expired_message_is_never_sent(store):
    modem = ScriptedModem()
    modem.can_send = False
    otp = outbound("111111 is your code", kind=Kind.OTP, deadline=time.time() + 0.3)
    await store.enqueue(otp)
    async with running_outbox(store, [modem]) as outbox:
        await until(in_state(store, otp, state=State.EXPIRED))
        modem.can_send = True
        later = outbound("queued after the expiry")      # its send shows the worker ran with a modem that can send
        await store.enqueue(later)
        outbox.wake()
        await until(in_state(store, later, state=State.SENT))
    assert [t for _, t, _ in modem.sent] == ["queued after the expiry"]
    assert (await store.get(otp.id)).text is None


async def test_validity_is_the_time_left(store):
    modem = ScriptedModem()
    sms = outbound("ttl", deadline=time.time() + 900)
    await store.enqueue(sms)
    async with running_outbox(store, [modem]):
        await until(in_state(store, sms, state=State.SENT))
    assert 890 <= modem.sent[0][2] <= 900


async def test_pacing_spaces_sends(store):
    modem = ScriptedModem()
    for i in range(3):
        await store.enqueue(outbound(f"p{i}"))
    started = time.monotonic()
    async with running_outbox(store, [modem], pacing=Pacing(per_minute=300)):   # one per 0.2 s
        await until(sent_count(modem, 3))
    # A lower bound is what pacing promises (a slow machine cannot break it); how fast sends go is bench/'s.
    assert time.monotonic() - started >= 0.38


async def test_two_modems_share_the_queue(store):
    a, b = ScriptedModem("a"), ScriptedModem("b")
    a.delay = b.delay = 0.02
    messages = [outbound(f"m{i}") for i in range(20)]
    for m in messages:
        await store.enqueue(m)
    async with running_outbox(store, [a, b]):
        await until(in_state(store, *messages, state=State.SENT))
    assert len(a.sent) + len(b.sent) == 20 and a.sent and b.sent


async def test_texts_are_erased_after_the_retention_time(store):
    modem = ScriptedModem()
    sms = outbound("keep me a little")
    await store.enqueue(sms)
    async with running_outbox(store, [modem], retention=0.5):
        await until(in_state(store, sms, state=State.SENT))
        assert (await store.get(sms.id)).text == "keep me a little"
        await until(recorded(store, sms, text=None), timeout=5)
    got = await store.get(sms.id)
    assert got.state is State.SENT and got.to == sms.to


async def test_a_send_the_database_cannot_record_is_recorded_once_it_can_and_not_sent_again(store, monkeypatch,
                                                                                           caplog):
    import modemd.services.outbox.worker
    monkeypatch.setattr(modemd.services.outbox.worker, "STORAGE_PAUSE", 0.05)
    modem = ScriptedModem()
    modem.delay = 0.3                      # the database fails while the modem is sending
    sms = outbound("hello")
    await store.enqueue(sms)
    async with running_outbox(store, [modem]):
        await until(in_state(store, sms, state=State.SENDING))
        store.db._wconn.execute("PRAGMA query_only = ON")      # every write now fails: SQLITE_READONLY
        with caplog.at_level("ERROR", logger="modemd.services.outbox"):
            await until(lambda: any("recording its outcome again" in r.getMessage() for r in caplog.records))
            assert modem.sent and (await store.get(sms.id)).state is State.SENDING
            store.db._wconn.execute("PRAGMA query_only = OFF")
            await until(in_state(store, sms, state=State.SENT))
        assert len(modem.sent) == 1                             # recorded late, never sent twice


async def test_a_workers_log_lines_carry_the_modem_name_for_the_journal(store, caplog):
    """The journal field that picks one modem's lines (README, "one modem's lines") is filled from the record."""
    caplog.set_level(logging.INFO, logger="modemd.services.outbox")
    failing, sms = ScriptedModem("modem7"), outbound("hello")
    failing.failures = [CmsError(21)]          # permanent: one warning line, then failed
    await store.enqueue(sms)
    async with running_outbox(store, [failing]):
        await until(in_state(store, sms, state=State.FAILED))
    lines = [r for r in caplog.records if r.name.startswith("modemd.services.outbox") and sms.id in r.getMessage()]
    assert lines and all(getattr(r, "modem", None) == "modem7" for r in lines), lines
