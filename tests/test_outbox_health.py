"""The outbox with SIM budgets and quarantine, on a real store with scripted modems: a modem at its budget or in
quarantine claims nothing and the others take its messages; a quarantine ends by its timer (services/outbox/)."""

from __future__ import annotations

import time

from kit import in_state, outbound, running_outbox, until
from modemd.domain.errors import AtTimeout, CmsError
from modemd.domain.policy import RetryPolicy, SimPolicy
from modemd.domain.sms import State
from test_outbox import ScriptedModem

PATIENT = RetryPolicy(base=0.05, cap=0.1, max_attempts=20, device_pause=0.3)


async def queue(store, n: int):
    messages = [outbound(f"m{i}") for i in range(n)]
    for sms in messages:
        await store.enqueue(sms)
    return messages


async def test_a_modem_at_its_daily_budget_leaves_the_rest_to_another(store):
    a, b = ScriptedModem("a"), ScriptedModem("b")
    b.can_send = False
    messages = await queue(store, 5)
    async with running_outbox(store, [a, b], sims={"a": SimPolicy(sms_per_day=2)}) as outbox:
        await until(lambda: len(a.sent) == 2)
        await until(lambda: outbox.health("a")["sending"].startswith("budget: day 2/2, until 00:00"))
        assert (await store.counts()).get("queued") == 3       # they wait: the only modem that may send is full
        b.can_send = True
        outbox.wake()
        await until(in_state(store, *messages, state=State.SENT))
    assert len(a.sent) == 2 and len(b.sent) == 3


async def test_the_budget_is_read_from_the_store_at_start(store):
    messages = await queue(store, 3)
    async with running_outbox(store, [ScriptedModem("a")], sims={"a": SimPolicy(sms_per_hour=2)}):
        await until(in_state(store, *messages[:2], state=State.SENT))
    again = ScriptedModem("a")          # the same SIM after a restart: 2 of 2 used this hour already
    async with running_outbox(store, [again], sims={"a": SimPolicy(sms_per_hour=2)}) as outbox:
        await until(lambda: outbox.health("a")["sending"].startswith("budget: hour 2/2"))
        assert again.sent == [] and (await store.get(messages[2].id)).state is State.QUEUED


async def test_a_failing_sim_is_quarantined_its_messages_go_elsewhere_and_it_comes_back(store):
    a, b = ScriptedModem("a"), ScriptedModem("b")
    b.can_send = False
    a.failures = [CmsError(38)] * 3
    sim = SimPolicy(quarantine_after=3, quarantine_time=0.5, quarantine_max=1)
    first = await queue(store, 1)
    async with running_outbox(store, [a, b], policy=PATIENT, sims={"a": sim}) as outbox:
        await until(lambda: outbox.health("a")["quarantine"] is not None)
        health = outbox.health("a")
        assert health["quarantine"]["failures"] == 3 and health["quarantine"]["reason"] == "CMS 38"
        assert health["sending"].startswith("quarantined until ")
        b.can_send = True
        outbox.wake()
        await until(in_state(store, *first, state=State.SENT))
        assert (await store.get(first[0].id)).modem == "b"
        b.can_send = False
        later = await queue(store, 1)       # the quarantine ends by its timer: A claims again, and succeeds
        outbox.wake()
        await until(in_state(store, *later, state=State.SENT))
    assert (await store.get(later[0].id)).modem == "a"
    assert outbox.health("a")["quarantine"] is None and outbox.health("a")["failures_in_a_row"] == 0


async def test_the_message_s_own_errors_do_not_quarantine_the_sim(store):
    a = ScriptedModem("a")
    a.failures = [CmsError(1)] * 3          # unassigned numbers: the numbers' fault
    messages = await queue(store, 4)
    async with running_outbox(store, [a], sims={"a": SimPolicy(quarantine_after=2)}) as outbox:
        await until(in_state(store, *messages[3:], state=State.SENT))
        assert outbox.health("a")["quarantine"] is None
        assert outbox.health("a")["last_result"]["outcome"] == "sent"
        assert [e["error"] for e in outbox.health("a")["recent_errors"]] == ["CMS 1"] * 3


async def test_a_send_that_may_have_left_counts_against_the_budget_across_a_restart(store):
    a = ScriptedModem("a")
    a.failures = [AtTimeout("no +CMGS", after_payload=True)]       # ambiguous: it may have reached the network
    [sms] = await queue(store, 1)
    sim = {"a": SimPolicy(sms_per_day=1)}
    async with running_outbox(store, [a], sims=sim) as outbox:
        await until(lambda: outbox.health("a")["sending"].startswith("budget: day 1/1"))
        assert outbox.health("a")["last_result"]["outcome"] == "unknown"
    got = await store.get(sms.id)
    assert got.state is State.QUEUED and got.possible_duplicate and a.sent == []     # the resend waits for tomorrow
    again = ScriptedModem("a")
    async with running_outbox(store, [again], sims=sim) as outbox:
        await until(lambda: outbox.health("a")["sending"].startswith("budget: day 1/1"))    # from the store
    assert again.sent == [] and (await store.get(sms.id)).state is State.QUEUED
