"""Inputs and states that tell the truth (issue 11, item 4).

- A number with letters is refused, never turned into keypad digits (someone else's phone).
- The validity period handed to the network is rounded down: a code is never kept by the network longer than it
  lives (except that 5 minutes is the shortest period there is: services.outbox.network_validity says why that is sent).
- A modem that does not answer is `not_responding` and one resting after a device error is `paused`: /readyz and
  /v1/modems say so, and both come back by themselves. A hang costs the message no try.

Unit tests first (numbers, validity, the state tracker, the outbox with a scripted modem, the supervisor on the
in-process simulator), then the real daemon on a simulator process, over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit import FAST, in_state, outbound, recorded, running_daemon, running_outbox, until, wait_for
from modemd.config.model import ModemConfig
from modemd.modem import supervisor
from modemd.domain.errors import AtTimeout, ChannelClosed, CmsError, PromptNotReceived, went_unanswered
from modemd.modem.modem import Modem
from modemd.modem.state import ModemState, SendResult, SmsSendFailed
from modemd.domain.numbers import InvalidNumber, normalize
from modemd.domain.policy import RetryPolicy
from modemd.services.outbox import network_validity
from modemd.codec.pdu import MIN_VALIDITY, decode_submit, encode_submit, validity_octet, validity_seconds
from modemd.domain.sms import Kind, State
from modemd.modem.supervisor import ModemSupervisor

TO = "+4915112345678"
LETTERS = "letters are not allowed in a phone number"


# ------------------------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize("raw", [
    "+49170CALLME1",              # the vanity number of the issue: was +491702255631, another subscriber
    "+1-800-FLOWERS",
    "+4915112345678 ext. 12",     # an extension: an SMS cannot reach it, it went to the main line
    "+4915112345678x12",
    "+4915112345678;ext=1",
    "tel:+4915112345678",
    "+49151ABC45678",
    "+49151АБВ45678",             # Cyrillic letters
    "+4915112345678 é",
    "0151 CALLME1",
])
def test_numbers_with_letters_are_refused(raw):
    with pytest.raises(InvalidNumber) as caught:
        normalize(raw, "DE")
    assert str(caught.value) == LETTERS
    assert raw not in str(caught.value)            # the reason never repeats the input


@pytest.mark.parametrize("raw, region", [
    ("+4915112345678", None), ("+49 151 12345678", None), ("+49-151-123-456-78", None),
    ("+49 (151) 123-456 78", None), ("+49.151.12345678", None), ("+49/151/12345678", None),
    ("+４９１５１１２３４５６７８", None),          # full-width digits are digits, not letters
    (" +4915112345678 ", None), ("0151 12345678", "DE"), ("004915112345678", "DE"),
])
def test_the_forms_accepted_before_still_are(raw, region):
    assert normalize(raw, region) == TO


# ----------------------------------------------------------------------------------------------- validity


@pytest.mark.parametrize("seconds, expected", [
    (420, 300),                   # the case: was 600 s, longer than the code lives
    (599, 300), (600, 600), (899, 600), (3600, 3600), (3599, 3300), (13 * 3600 - 1, 12 * 3600 + 1800), (13 * 3600, 13 * 3600),
    (25 * 3600, 24 * 3600), (36 * 86400, 5 * 7 * 86400),
])
def test_validity_is_rounded_down(seconds, expected):
    assert validity_seconds(validity_octet(seconds)) == expected
    [part] = encode_submit(TO, "123456 is your code", validity=seconds)
    assert decode_submit(part.hex).validity == expected


@given(seconds=st.integers(MIN_VALIDITY, 63 * 7 * 86400))
def test_the_network_is_never_told_longer_than_asked(seconds):
    vp = validity_octet(seconds)
    assert validity_seconds(vp) <= seconds
    assert vp == 255 or validity_seconds(vp + 1) > seconds      # and nothing longer would still fit


def test_network_validity_is_the_time_left():
    now = 1_000_000.0
    assert network_validity(None, now) is None
    assert network_validity(now + 420.9, now) == 420
    assert network_validity(now + 120, now) == 120      # -> the shortest period, 5 minutes (documented choice)
    assert validity_octet(network_validity(now + 120, now)) == 0
    assert network_validity(now - 1, now) == 0          # never negative (a claim just before the deadline)


# ------------------------------------------------------------------------------------- a modem with state


class FakeChannel:
    def __init__(self):
        self.is_open = True
        self.answers = True
        self.resyncs = 0

    async def resync(self) -> bool:
        self.resyncs += 1
        return self.answers and self.is_open


class TrackedModem(Modem):
    """A real Modem (its state: tracker, pause, check_answering) over a fake channel; sends are scripted."""

    def __init__(self, name="m0"):
        self.states: list[ModemState] = []
        super().__init__(ModemConfig(name, "fake"), FakeChannel(), on_state=self.states.append)
        self.status.state, self.status.registration = ModemState.READY, 1
        self.failures: list[BaseException] = []
        self.sent: list[tuple[str, str, int | None]] = []
        self.parts_sent = 0
        self.looked = 0                          # how often the outbox asked can_send: it ran a step

    @property
    def can_send(self) -> bool:
        self.looked += 1
        return super().can_send

    async def send_sms(self, to, text, *, status_report=True, validity=None):
        await asyncio.sleep(0)
        if self.failures:
            raise SmsSendFailed(self.failures.pop(0), self.parts_sent, [])
        self.sent.append((to, text, validity))
        return SendResult(references=[len(self.sent)], parts=1)


def test_what_went_unanswered():
    assert went_unanswered(PromptNotReceived("no '> ' prompt within 10 s; sent ESC"))
    assert went_unanswered(AtTimeout("modem does not answer (resync after an earlier timeout failed)"))
    assert not went_unanswered(AtTimeout("no +CMGS", after_payload=True))     # AMBIGUOUS: it may have left
    assert not went_unanswered(CmsError(42))
    assert not went_unanswered(ChannelClosed("lost"))


async def test_pause_is_visible_and_ends_by_itself():
    modem = TrackedModem()
    modem.pause(0.2, "+CMS ERROR 50 (requested facility not subscribed)")
    assert modem.status.state is ModemState.PAUSED and not modem.can_send
    assert modem.status.as_dict()["state"] == "paused" and "CMS ERROR 50" in modem.status.last_error
    await until(lambda: modem.can_send)
    assert modem.states == [ModemState.PAUSED, ModemState.READY]


async def test_a_pause_does_not_hide_a_worse_state():
    modem = TrackedModem()
    modem.mark_offline("port lost")
    modem.pause(0.1, "barred")
    assert modem.status.state is ModemState.OFFLINE
    modem.status.state = ModemState.READY
    modem.pause(0.1, "barred")
    witness = TrackedModem("witness")           # paused after it, for as long: its resume comes later
    witness.pause(0.1, "barred")
    modem.mark_offline("port lost")             # the timer must not bring an unplugged modem back to ready
    await until(lambda: witness.status.state is ModemState.READY)
    assert modem.status.state is ModemState.OFFLINE


async def test_check_answering_marks_a_silent_modem_and_its_answer_brings_it_back():
    modem = TrackedModem()
    assert await modem.check_answering("no prompt") is True and modem.can_send
    modem.channel.answers = False
    assert await modem.check_answering("does not answer AT commands (no prompt)") is False
    assert modem.status.state is ModemState.NOT_RESPONDING and not modem.can_send
    assert modem.status.as_dict()["state"] == "not_responding"
    modem.status.registration = 2                # came back while searching for the network
    modem.mark_answering()
    assert modem.status.state is ModemState.NOT_REGISTERED
    modem.status.state = ModemState.OFFLINE      # gone: "not responding" would say less than "offline"
    modem.mark_not_responding("late verdict")
    assert modem.status.state is ModemState.OFFLINE


# ------------------------------------------------------------------------------------------------ outbox


@asynccontextmanager
async def sending(store, failures, *, text="x", answers=True, **kind):
    """A message queued for a TrackedModem whose first sends fail with `failures` (its channel answering the
    resync or not), and the outbox running: (modem, message, outbox)."""
    modem = TrackedModem()
    modem.channel.answers = answers
    modem.failures = list(failures)
    sms = outbound(text, **kind)
    await store.enqueue(sms)
    async with running_outbox(store, [modem]) as outbox:
        yield modem, sms, outbox


async def test_a_hang_costs_no_try_and_nothing_goes_out_until_the_modem_answers(store):
    hang = PromptNotReceived("no '> ' prompt within 10 s; sent ESC")
    async with sending(store, [hang], text="after the hang", answers=False) as (modem, sms, outbox):
        await until(lambda: modem.status.state is ModemState.NOT_RESPONDING)
        await until(in_state(store, sms, state=State.QUEUED))
        got = await store.get(sms.id)
        assert got.attempts == 0 and got.error_code == "no_prompt" and not got.possible_duplicate
        resyncs, looked = modem.channel.resyncs, modem.looked
        outbox.wake()
        await until(lambda: modem.looked > looked)     # the worker looked (it was woken) ...
        assert modem.sent == [] and modem.channel.resyncs == resyncs      # ... and neither sent nor probed
        modem.channel.answers = True
        modem.mark_answering()                   # what the supervisor does when its probe is answered
        await until(in_state(store, sms, state=State.SENT))
    got = await store.get(sms.id)
    assert got.attempts == 1 and [t for _, t, _ in modem.sent] == ["after the hang"]


async def test_a_failed_resync_before_the_command_is_a_hang_too(store):
    hang = AtTimeout("modem does not answer (resync after an earlier timeout failed)")
    async with sending(store, [hang], answers=False) as (modem, sms, _):
        await until(lambda: modem.status.state is ModemState.NOT_RESPONDING)
        await until(in_state(store, sms, state=State.QUEUED))
        assert (await store.get(sms.id)).attempts == 0


async def test_a_modem_that_answers_but_gives_no_prompt_uses_up_tries(store):
    """Not a hang: the modem answers "AT". Such a try counts, or a modem that never prompts for this one message
    would keep it (and itself) busy forever."""
    async with sending(store, [PromptNotReceived("no prompt")] * 5, text="never prompted") as (modem, sms, _):
        await until(in_state(store, sms, state=State.FAILED))
    got = await store.get(sms.id)
    assert got.attempts == FAST.max_attempts and "gave up" in got.error_text
    assert modem.status.state is ModemState.READY and modem.channel.resyncs == FAST.max_attempts


async def test_a_timeout_after_the_payload_stays_ambiguous_even_on_a_silent_modem(store):
    maybe = AtTimeout("no +CMGS", after_payload=True)
    async with sending(store, [maybe], text="maybe sent", answers=False) as (modem, sms, _):
        await until(in_state(store, sms, state=State.SENT))
    got = await store.get(sms.id)
    assert got.possible_duplicate and got.attempts == 2 and modem.channel.resyncs == 0


async def test_a_port_lost_after_the_payload_is_ambiguous_not_refunded(store):
    """The lost port makes the modem unable to send at once; that must not turn a maybe-sent message into a
    refunded, unflagged one."""
    modem = TrackedModem()
    lost = ChannelClosed("port lost during AT+CMGS", after_payload=True)
    modem.failures = [lost]

    async def send_and_lose(to, text, *, status_report=True, validity=None):
        if modem.failures:
            modem.failures.pop(0)
            modem.channel.is_open = False
            modem.mark_offline("port lost")
            raise SmsSendFailed(lost, 0, [])
        modem.sent.append((to, text, validity))
        return SendResult(references=[1], parts=1)

    modem.send_sms = send_and_lose
    sms = outbound("maybe sent")
    await store.enqueue(sms)
    async with running_outbox(store, [modem]):
        await until(recorded(store, sms, error_code="modem_lost"))
        got = await store.get(sms.id)
        assert got.state is State.QUEUED
        assert got.possible_duplicate and got.attempts == 1 and got.ambiguous == 1


async def test_a_device_error_pauses_the_modem_visibly(store):
    barred = TrackedModem("barred")
    barred.failures = [CmsError(50)]
    sms = outbound("wait for the pause")
    await store.enqueue(sms)
    async with running_outbox(store, [barred], policy=RetryPolicy(base=0.05, device_pause=0.5)):
        await until(lambda: barred.status.state is ModemState.PAUSED)
        assert not barred.can_send and "CMS ERROR 50" in barred.status.last_error
        await until(in_state(store, sms, state=State.SENT))
    assert barred.states == [ModemState.PAUSED, ModemState.READY]
    assert (await store.get(sms.id)).attempts == 1


async def test_an_otp_goes_out_with_a_validity_no_longer_than_its_code(store):
    code = "123456 is your code"
    async with sending(store, [], text=code, kind=Kind.OTP, deadline=time.time() + 420) as (modem, otp, _):
        await until(in_state(store, otp, state=State.SENT))
    [(_, _, validity)] = modem.sent
    assert 410 <= validity <= 420
    [part] = encode_submit(TO, code, validity=validity)
    assert decode_submit(part.hex).validity == 300


# ------------------------------------------------------------------------------------- supervisor (in-process)


@pytest.fixture
def quick_hangs(monkeypatch):
    monkeypatch.setattr(supervisor, "HUNG_PROBE_INTERVAL", 0.1)
    monkeypatch.setattr(supervisor, "REOPEN_DELAYS", (0.05,))


async def start_supervisor(sim, **kwargs):
    states: list[ModemState] = []
    sup = ModemSupervisor(ModemConfig("modem0", sim.port, registration_timeout=5.0), on_state=states.append, **kwargs)
    sup.channel._probe_timeout = 0.2           # a silent resync in ~1 s instead of ~3 s
    sup.start()
    await until(lambda: sup.modem.can_send)
    return sup, states


async def test_the_supervisor_brings_a_hung_modem_back_when_it_answers(sim, quick_hangs, caplog):
    caplog.set_level(logging.INFO, logger="modemd.modem.supervisor")
    sup, states = await start_supervisor(sim)
    try:
        sim.set_fault("no_answer", True)
        assert await sup.modem.check_answering("does not answer AT commands (no prompt)") is False
        assert sup.modem.status.state is ModemState.NOT_RESPONDING and not sup.modem.can_send
        await until(lambda: _logged(caplog, "modem does not answer (probe 2"))
        assert sup.modem.status.state is ModemState.NOT_RESPONDING
        sim.set_fault("no_answer", False)
        await until(lambda: sup.modem.can_send)
    finally:
        await sup.stop()
    assert states[-2:] == [ModemState.NOT_RESPONDING, ModemState.READY]
    assert _logged(caplog, "modem answers again")


def _logged(caplog, text) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


async def test_a_status_poll_finds_a_hung_modem(sim, quick_hangs):
    sup, states = await start_supervisor(sim, status_interval=0.2)
    channel = sup.channel
    original = channel.command

    async def quick(cmd, *, timeout=10.0, expect=None, secret=False):   # the poll's 10 s timeout, shortened
        return await original(cmd, timeout=min(timeout, 0.3), expect=expect, secret=secret)

    channel.command = quick
    try:
        sim.set_fault("no_answer", True)
        await until(lambda: sup.modem.status.state is ModemState.NOT_RESPONDING)
        assert "status poll" in sup.modem.status.last_error
        sim.set_fault("no_answer", False)
        await until(lambda: sup.modem.can_send)
    finally:
        await sup.stop()


async def test_a_long_silence_reopens_the_port_and_stays_not_responding(sim, quick_hangs, monkeypatch):
    monkeypatch.setattr(supervisor, "REOPEN_AFTER_SILENCE", 0.3)
    sup, states = await start_supervisor(sim)
    try:
        sim.set_fault("no_answer", True)
        await sup.modem.check_answering("no prompt")
        await until(lambda: ModemState.INITIALIZING in states[states.index(ModemState.NOT_RESPONDING):])
        await until(lambda: sup.modem.status.state is ModemState.NOT_RESPONDING
                    and "bring-up failed" in sup.modem.status.last_error)
        assert not sup.modem.can_send
        sim.set_fault("no_answer", False)
        await until(lambda: sup.modem.can_send)
    finally:
        await sup.stop()


# ------------------------------------------------------------------------------------- the daemon, over HTTP


def modem_of(daemon) -> dict:
    status, body = daemon.call("GET", "/v1/modems")
    assert status == 200
    [modem] = body["data"]
    return modem


def message(daemon, message_id) -> dict:
    return daemon.call("GET", f"/v1/messages/{message_id}")[1]


def test_the_api_refuses_letters_and_keeps_the_other_forms(daemon, sim_process):
    for path, body in (("/v1/messages", {"to": "+49170CALLME1", "text": "hi"}),
                       ("/v1/otp", {"to": "+49170CALLME1"})):
        status, problem = daemon.call("POST", path, body)
        assert status == 422 and LETTERS in problem["detail"], (path, status, problem)
    status, accepted = daemon.call("POST", "/v1/messages", {"to": "+49 (151) 123-456 78", "text": "digits"})
    assert status == 202 and accepted["to"] == TO
    wait_for(lambda: message(daemon, accepted["id"])["status"] == "sent", timeout=15)
    assert [(m["to"], m["text"]) for m in sim_process.messages()] == [(TO, "digits")]


def test_the_network_gets_validity_periods_rounded_down(daemon, sim_process):
    status, issued = daemon.call("POST", "/v1/otp", {"to": TO, "ttl": 420})
    assert status == 202
    status, plain = daemon.call("POST", "/v1/messages", {"to": "+4915112345679", "text": "ttl 900", "ttl": 900})
    assert status == 202
    wait_for(lambda: len(sim_process.messages()) == 2, timeout=15)
    validity = {m["to"]: m["validity"] for m in sim_process.messages()}
    assert validity == {TO: 300, "+4915112345679": 600}        # were 600 and 900: longer than asked


@pytest.mark.timeout(150)
def test_a_hung_modem_is_reported_and_its_hang_costs_no_try(daemon, sim_process):
    sim_process.control.fault("no_answer", True)
    status, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "after the hang"})
    assert status == 202
    # The send gets no "> " prompt (10 s), the modem no answer to "AT" either: not responding.
    wait_for(daemon.not_ready, timeout=40)
    modem = modem_of(daemon)
    assert modem["state"] == "not_responding" and "does not answer" in modem["last_error"], modem
    got = message(daemon, accepted["id"])
    assert got["status"] == "queued" and got["attempts"] == 0, got
    # Time passes, the supervisor keeps probing (two silent probes, longer than two prompt timeouts since the
    # send), and the message is not tried meanwhile: still no try used.
    wait_for(lambda: "modem does not answer (probe 2" in daemon.output(), timeout=40)
    got = message(daemon, accepted["id"])
    assert got["status"] == "queued" and got["attempts"] == 0, got
    assert modem_of(daemon)["state"] == "not_responding" and daemon.not_ready()
    sim_process.control.fault("no_answer", False)
    wait_for(lambda: message(daemon, accepted["id"])["status"] == "sent", timeout=60)
    assert message(daemon, accepted["id"])["attempts"] == 1
    assert [m["text"] for m in sim_process.messages()] == ["after the hang"]
    assert daemon.ready() and modem_of(daemon)["state"] == "ready"
    assert "answers again" in daemon.output()


def test_a_paused_modem_is_reported_and_resumes_by_itself(sim_process, tmp_path, free_port):
    with running_daemon(tmp_path, sim=sim_process, port=free_port, config="[queue]\ndevice_pause = 4.0\n") as d:
        sim_process.control.fault("cms_errors", [50])            # no SMS subscription: a device state
        status, accepted = d.call("POST", "/v1/messages", {"to": TO, "text": "after the pause"})
        assert status == 202
        wait_for(lambda: modem_of(d)["state"] == "paused", timeout=15)
        assert d.not_ready()
        assert "50" in modem_of(d)["last_error"]
        wait_for(lambda: message(d, accepted["id"])["status"] == "sent", timeout=20)
        assert message(d, accepted["id"])["attempts"] == 1        # the device error's try was refunded
        assert d.ready() and modem_of(d)["state"] == "ready"
