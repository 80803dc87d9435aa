"""The outbox with routes: each worker claims with its modem's route keys (domain.routing), so a message pinned to
a modem that cannot send waits for it, a group's message goes through a modem of the group that can send, and
wake() lets the strongest signal claim first. Scripted modems on a real store."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from kit import in_state, outbound, until
from modemd.domain.policy import RetryPolicy
from modemd.domain.routing import modem_keys
from modemd.domain.sms import State
from modemd.services.outbox import Outbox
from test_outbox import ScriptedModem


@asynccontextmanager
async def routed_outbox(store, modems: dict[ScriptedModem, tuple[str, ...]], signals: dict | None = None):
    """An Outbox whose modems serve their name and the groups given; `signals`: modem -> CSQ."""
    outbox = Outbox(store, policy=RetryPolicy(base=0.05))
    for modem, groups in modems.items():
        signal = (signals or {}).get(modem)
        outbox.add_modem(modem, routes=modem_keys(modem.name, groups),
                         signal=None if signal is None else (lambda value=signal: value))
    outbox.start()
    try:
        yield outbox
    finally:
        await outbox.stop()


async def test_a_pinned_message_waits_for_its_modem_and_others_go_past_it(store):
    de1, fr1 = ScriptedModem("de1"), ScriptedModem("fr1")
    de1.can_send = False
    pinned, anyone = outbound("for de1", route="modem:de1"), outbound("for anyone")
    await store.enqueue(pinned)
    await store.enqueue(anyone)
    async with routed_outbox(store, {de1: ("de",), fr1: ("fr",)}) as outbox:
        await until(in_state(store, anyone, state=State.SENT))
        assert (await store.get(pinned.id)).state is State.QUEUED      # fr1 sent the later one, not this
        de1.can_send = True
        outbox.wake()
        await until(in_state(store, pinned, state=State.SENT))
    assert (await store.get(pinned.id)).modem == "de1" and (await store.get(anyone.id)).modem == "fr1"
    assert [t for _, t, _ in fr1.sent] == ["for anyone"]


async def test_a_group_message_goes_through_a_modem_of_the_group_that_can_send(store):
    de1, de2, fr1 = ScriptedModem("de1"), ScriptedModem("de2"), ScriptedModem("fr1")
    de1.can_send = False
    messages = [outbound(f"de {i}", route="group:de") for i in range(3)]
    for sms in messages:
        await store.enqueue(sms)
    async with routed_outbox(store, {de1: ("de",), de2: ("de",), fr1: ("fr",)}):
        await until(in_state(store, *messages, state=State.SENT))
    assert {(await store.get(m.id)).modem for m in messages} == {"de2"}
    assert fr1.sent == [] and de1.sent == []


@pytest.mark.parametrize("strong", ["a", "b"])
async def test_wake_lets_the_strongest_signal_claim_first(store, strong):
    a, b = ScriptedModem("a"), ScriptedModem("b")
    signals = {a: 25 if strong == "a" else 5, b: 25 if strong == "b" else 5}
    async with routed_outbox(store, {a: (), b: ()}, signals) as outbox:
        await until(lambda: a.looked >= 1 and b.looked >= 1)     # both idle, the queue empty
        sms = outbound("who takes me")
        await store.enqueue(sms)
        outbox.wake()
        await until(in_state(store, sms, state=State.SENT))
    assert (await store.get(sms.id)).modem == strong
