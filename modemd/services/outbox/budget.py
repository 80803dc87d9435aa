"""A SIM's budget: SMS parts per clock hour, day and month, in the machine's local time ([[modems]] sms_per_hour,
sms_per_day, sms_per_month; prepaid plans cap them, operators bar SIMs that burst). A modem at any of its budgets
claims nothing until that period ends; its messages go through other modems, or wait.

What counts is what may have left: the parts of every message the modem sent, and of those whose send may have
gone out (an ambiguous outcome: a timeout after the payload, CMS 332). The usage of a period comes from the store
(Store.sent_parts) when the worker starts and whenever a period rolls over, so it survives a restart; in between
it is kept here and counted up by the worker's outcomes. A modem belongs to one host, so nothing else sends from
its SIM meanwhile, on a fleet too.

A multipart message is let through whole if the budget has room for one more part: the budget is checked before
the claim, and the claim does not know which message comes next (nor should a 3-part message starve behind room
for 2). A period may so end up to one message's parts minus one over its cap; the next claim waits for the next
period as for a full one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Awaitable, Callable

PERIODS = ("hour", "day", "month")


def period_start(period: str, now: float) -> float:
    """When the clock period holding `now` began, in local time (the epoch seconds of its first instant)."""
    local = datetime.fromtimestamp(now)
    if period == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif period == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp()


def period_end(period: str, now: float) -> float:
    """When the clock period holding `now` ends: the next one's start. Computed on the local calendar, so a day
    with a daylight-saving change is 23 or 25 hours long, as the operator's counter sees it."""
    start = datetime.fromtimestamp(period_start(period, now))
    if period == "hour":
        # Through epoch seconds: a local hour repeated at the end of summer time is still one hour long.
        return period_start("hour", start.timestamp() + 3600 + 1)
    if period == "day":
        return (start + timedelta(days=1)).replace(hour=0).timestamp()
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month).timestamp()


@dataclass
class Usage:
    """One period's count: `used` parts since `since`, good until `until` (the next period)."""
    limit: int
    used: int = 0
    since: float = 0.0
    until: float = 0.0


class SimBudget:
    """The budgets of one SIM. `sent_since(t)` reads from the store the parts the modem sent since t."""

    def __init__(self, limits: dict[str, int | None], sent_since: Callable[[float], Awaitable[int]]):
        self._sent_since = sent_since
        self.usage = {period: Usage(limit) for period, limit in limits.items() if limit is not None}

    async def refresh(self, now: float | None = None) -> None:
        """Load each period that is new (first call, or rolled over) from the store; the others stay as counted."""
        now = time.time() if now is None else now
        for period, usage in self.usage.items():
            if now >= usage.until:
                usage.since, usage.until = period_start(period, now), period_end(period, now)
                usage.used = await self._sent_since(usage.since)

    def add(self, parts: int) -> None:
        """Parts that left (or may have) through this SIM."""
        for usage in self.usage.values():
            usage.used += parts

    def full(self) -> tuple[str, Usage] | None:
        """The period whose budget is used up (the one that ends last, if several), or None: room to send."""
        spent = [(period, u) for period, u in self.usage.items() if u.used >= u.limit]
        return max(spent, key=lambda item: item[1].until) if spent else None

    def as_dict(self) -> dict[str, dict | None]:
        """{hour|day|month: {used, limit, resets_at} or None (no cap)} for /v1/modems."""
        return {period: ({"used": u.used, "limit": u.limit, "resets_at": u.until} if (u := self.usage.get(period))
                         else None) for period in PERIODS}


def budget_text(period: str, usage: Usage, now: float) -> str:
    """"budget: day 500/500, until 00:00": the local time the period ends, with its date when that is later than
    the coming midnight (a month's budget, most days)."""
    end = datetime.fromtimestamp(usage.until)
    tomorrow = datetime.fromtimestamp(now).date() + timedelta(days=1)
    soon = end.date() < tomorrow or end.date() == tomorrow and end.time() == datetime.min.time()
    when = end.strftime("%H:%M") if soon else end.strftime("%Y-%m-%d %H:%M")
    return f"budget: {period} {usage.used}/{usage.limit}, until {when}"
