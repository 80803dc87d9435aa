"""A SIM's budgets (clock periods in local time, roll-over, usage from the store), its quarantine (which failures
count, doubling, reset) and the health a worker keeps of both (services/outbox/)."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import pytest

from modemd.domain.errors import AtTimeout, CmeError, CmsError, PhoneSendFailed, PromptNotReceived
from modemd.domain.policy import SimPolicy
from modemd.services.outbox.budget import SimBudget, budget_text, period_end, period_start
from modemd.services.outbox.health import ModemHealth
from modemd.services.outbox.quarantine import Quarantine, counts_against_sim


@pytest.fixture
def berlin(monkeypatch):
    """Local time is Europe/Berlin (summer time from the last Sunday of March, 02:00 -> 03:00)."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def at(*fields) -> float:
    return datetime(*fields).timestamp()


# ---- periods -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("period, now, start, end", [
    ("hour", (2026, 5, 4, 13, 59, 59), (2026, 5, 4, 13), (2026, 5, 4, 14)),
    ("hour", (2026, 12, 31, 23, 0, 0), (2026, 12, 31, 23), (2027, 1, 1, 0)),
    ("day", (2026, 5, 4, 0, 0, 0), (2026, 5, 4), (2026, 5, 5)),
    ("day", (2026, 2, 28, 23, 59, 59), (2026, 2, 28), (2026, 3, 1)),
    ("month", (2026, 12, 15, 8, 0, 0), (2026, 12, 1), (2027, 1, 1)),
    ("month", (2028, 2, 29, 12, 0, 0), (2028, 2, 1), (2028, 3, 1)),
])
def test_periods_follow_the_local_calendar(berlin, period, now, start, end):
    assert period_start(period, at(*now)) == at(*start)
    assert period_end(period, at(*now)) == at(*end)


def test_the_day_summer_time_starts_is_23_hours_long(berlin):
    day = at(2026, 3, 29, 12)
    assert period_end("day", day) - period_start("day", day) == 23 * 3600
    assert period_end("hour", at(2026, 3, 29, 1, 30)) == at(2026, 3, 29, 3)      # 02:00 does not exist that day


# ---- budget ------------------------------------------------------------------------------------------------------
class SentParts:
    """Store.sent_parts for one modem: what it answers, and the periods it was asked about."""

    def __init__(self, parts: int = 0):
        self.parts = parts
        self.asked: list[float] = []

    async def __call__(self, since: float) -> int:
        self.asked.append(since)
        return self.parts


async def test_budget_loads_from_the_store_and_counts_in_memory_until_the_period_rolls_over(berlin):
    store = SentParts(parts=2)
    budget = SimBudget({"hour": None, "day": 3, "month": None}, store)
    await budget.refresh(at(2026, 5, 4, 10))
    assert store.asked == [at(2026, 5, 4)] and budget.full() is None
    budget.add(1)
    await budget.refresh(at(2026, 5, 4, 23, 59))            # same day: not read again
    assert store.asked == [at(2026, 5, 4)]
    period, usage = budget.full()
    assert (period, usage.used, usage.limit, usage.until) == ("day", 3, 3, at(2026, 5, 5))
    assert budget_text(period, usage, at(2026, 5, 4, 23, 59)) == "budget: day 3/3, until 00:00"
    store.parts = 0
    await budget.refresh(at(2026, 5, 5, 0, 0, 1))            # the next day: read from the store again
    assert store.asked[-1] == at(2026, 5, 5) and budget.full() is None


@pytest.mark.parametrize("period, now, text", [
    ("day", (2026, 10, 25, 0, 30), "budget: day 9/9, until 00:00"),         # a 25-hour day: still "midnight"
    ("hour", (2026, 5, 4, 23, 10), "budget: hour 9/9, until 00:00"),
    ("hour", (2026, 5, 4, 13, 10), "budget: hour 9/9, until 14:00"),
    ("month", (2026, 5, 31, 9, 0), "budget: month 9/9, until 00:00"),       # the month ends at the coming midnight
    ("month", (2026, 5, 30, 9, 0), "budget: month 9/9, until 2026-06-01 00:00"),
])
async def test_budget_text_says_when_the_period_ends(berlin, period, now, text):
    budget = SimBudget({period: 9}, SentParts(parts=9))
    await budget.refresh(at(*now))
    assert budget_text(*budget.full(), at(*now)) == text


async def test_the_budget_that_ends_last_is_the_one_that_holds(berlin):
    budget = SimBudget({"hour": 1, "day": 5, "month": 5}, SentParts(parts=5))
    await budget.refresh(at(2026, 5, 4, 10, 30))
    period, usage = budget.full()
    assert period == "month" and usage.until == at(2026, 6, 1)
    assert budget_text(period, usage, at(2026, 5, 4, 10, 30)) == "budget: month 5/5, until 2026-06-01 00:00"
    assert budget.as_dict()["hour"] == {"used": 5, "limit": 1, "resets_at": at(2026, 5, 4, 11)}


async def test_an_hourly_budget_opens_again_at_the_next_hour(berlin):
    store = SentParts(parts=4)
    budget = SimBudget({"hour": 4}, store)
    await budget.refresh(at(2026, 5, 4, 10, 59, 59))
    assert budget.full()[0] == "hour"
    store.parts = 0
    await budget.refresh(at(2026, 5, 4, 11))
    assert budget.full() is None and budget.as_dict() == {
        "hour": {"used": 0, "limit": 4, "resets_at": at(2026, 5, 4, 12)}, "day": None, "month": None}


async def test_a_multipart_message_goes_whole_when_one_part_has_room(berlin):
    budget = SimBudget({"day": 10}, SentParts(parts=9))
    await budget.refresh(at(2026, 5, 4, 10))
    assert budget.full() is None            # room for one part: the next message is claimed, whatever its size
    budget.add(3)
    assert budget.full()[1].used == 12      # over by two parts at most one message's parts minus one


# ---- which failures count ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("exc, counts", [
    (CmsError(38), True), (CmsError(42), True), (CmsError(331), True), (CmsError(500), True),
    (CmsError(332), True),                                     # network timeout: ambiguous, still the network's
    (AtTimeout(after_payload=True), True), (AtTimeout(), True), (PromptNotReceived(), True),
    (CmsError(50), True), (CmsError(310), True), (CmeError(10), True),     # the SIM or its subscription
    (CmsError(21), True),                                      # rejected again and again: a spam filter, barring
    (CmsError(1), False), (CmsError(28), False), (CmsError(195), False),   # the number's fault
    (CmsError(304), False),                                    # our PDU: another SIM gets the same answer
    (CmsError(197), False),                                    # the SC had it already: a success
    (PhoneSendFailed("RESULT_ERROR_NO_SERVICE"), True),
])
def test_failures_that_count_are_the_sims_and_the_networks(exc, counts):
    assert counts_against_sim(exc) is counts


# ---- quarantine --------------------------------------------------------------------------------------------------
def test_quarantine_after_n_failures_in_a_row_doubling_up_to_the_longest_pause():
    q = Quarantine(after=3, first=60, longest=200)
    assert [q.failed("CMS 38", 0.0) for _ in range(2)] == [None, None]
    assert q.failed("CMS 41", 0.0) == 60 and q.active(59.9) and not q.active(60.0)
    assert q.as_dict(1.0) == {"until": 60.0, "failures": 3, "reason": "CMS 38, CMS 41"}
    assert q.failed("CMS 38", 30.0) is None                  # a failure during the pause starts no new one
    assert q.failed("CMS 38", 61.0) == 120                   # the probe after it failed: again at once, doubled
    assert q.failed("CMS 38", 200.0) == 200                  # capped
    q.succeeded()
    assert q.streak == 0 and q.as_dict(201.0) is None
    assert [q.failed("CMS 38", 300.0) for _ in range(3)] == [None, None, 60]     # the doubling starts over


def test_quarantine_after_zero_never_quarantines():
    q = Quarantine(after=0, first=60, longest=3600)
    assert all(q.failed("CMS 38", 0.0) is None for _ in range(50)) and not q.active(0.0)


def test_quarantine_text_names_the_time_the_count_and_the_reason():
    q = Quarantine(after=2, first=60, longest=60)
    q.failed("CMS 38", 0.0)
    q.failed("CMS 38", 0.0)
    until = datetime.fromtimestamp(60.0).strftime("%H:%M:%S")
    assert q.text() == f"quarantined until {until} (2 failures in a row: CMS 38)"


# ---- health ------------------------------------------------------------------------------------------------------
def health(policy: SimPolicy, parts: int = 0) -> ModemHealth:
    return ModemHealth("a", policy, SentParts(parts), logging.LoggerAdapter(logging.getLogger("t"), {}))


async def test_health_holds_off_while_quarantined_and_logs_it_once(caplog):
    h = health(SimPolicy(quarantine_after=2, quarantine_time=10))
    now = time.time()
    h.failed(CmsError(1), "CMS 1", now=now)                  # the number's fault: neither counts nor resets
    with caplog.at_level(logging.WARNING):
        h.failed(CmsError(38), "CMS 38", now=now)
        h.failed(CmsError(38), "CMS 38", now=now)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"[a] {h.quarantine.text()}: sending nothing for 10 s"]
    assert 9 < await h.hold_off(now + 0.5) <= 9.5
    view = h.as_dict(now + 1)
    assert view["sending"].startswith("quarantined until") and view["quarantine"]["failures"] == 2
    assert view["last_result"] == {"at": now, "outcome": "failed", "error": "CMS 38"}
    assert [e["error"] for e in view["recent_errors"]] == ["CMS 38", "CMS 38", "CMS 1"]
    assert await h.hold_off(now + 10) == 0.0 and h.as_dict(now + 10)["sending"] == "ok"


async def test_health_counts_ambiguous_sends_against_the_budget_and_ignores_a_gone_modem():
    h = health(SimPolicy(sms_per_day=3, quarantine_after=1))
    assert await h.hold_off() == 0.0
    h.failed(AtTimeout(after_payload=True), "timeout", maybe_left=2, modem_gone=True)
    assert h.quarantine.streak == 0 and h.last_result["outcome"] == "unknown"
    h.sent(1)
    held = await h.hold_off()
    assert held > 0 and h.as_dict()["sending"].startswith("budget: day 3/3, until ")


async def test_health_reads_the_budget_from_the_store_at_start():
    h = health(SimPolicy(sms_per_hour=5), parts=5)
    assert await h.hold_off() > 0
    assert h.as_dict()["budget"]["hour"]["used"] == 5
