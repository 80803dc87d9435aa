"""One modem's sending health, kept by its outbox worker: the SIM's budgets (budget.py), its quarantine
(quarantine.py), the last send's result and the latest errors. The worker asks hold_off() before each claim and
reports every outcome; the daemon shows as_dict() in the modem's state (/v1/modems "health", the admin page,
`modemd status`, /metrics). docs/health.md describes the fields.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Awaitable, Callable

from ...domain.policy import SimPolicy
from .budget import SimBudget, budget_text
from .quarantine import Quarantine, counts_against_sim

# How many of the latest errors a modem's health lists.
RECENT_ERRORS = 5
# What a send came to, as last_result says: sent, failed, or unknown (it may have left: an ambiguous outcome).
OUTCOMES = ("sent", "failed", "unknown")


class ModemHealth:
    def __init__(self, name: str, policy: SimPolicy, sent_since: Callable[[float], Awaitable[int]],
                 log: logging.LoggerAdapter):
        self.name = name
        self.log = log
        self.budget = SimBudget(policy.budgets, sent_since)
        self.quarantine = Quarantine(policy.quarantine_after, policy.quarantine_time, policy.quarantine_max)
        self.last_result: dict | None = None
        self.recent_errors: deque[dict] = deque(maxlen=RECENT_ERRORS)
        self._held: str | None = None      # why the last hold_off() held off (logged once per reason)

    async def hold_off(self, now: float | None = None) -> float:
        """Seconds the worker must wait before it claims (0: claim now): quarantined, or at a budget. Loads the
        budgets from the store the first time and when a period rolled over."""
        now = time.time() if now is None else now
        await self.budget.refresh(now)
        held, until = self._held_by(now)
        if held != self._held:
            self._log_change(held)
            self._held = held
        return max(0.0, until - now) if held else 0.0

    def _held_by(self, now: float) -> tuple[str | None, float]:
        if self.quarantine.active(now):
            return self.quarantine.text(), self.quarantine.until
        full = self.budget.full()
        if full:
            return budget_text(*full, now), full[1].until
        return None, 0.0

    def _log_change(self, held: str | None) -> None:
        if held is None:
            self.log.info("[%s] sending again (%s over)", self.name, _what(self._held))
        elif held.startswith("budget"):      # a quarantine is logged as a WARNING where it starts (failed())
            self.log.info("[%s] %s: claiming nothing until then", self.name, held)

    def sent(self, parts: int, now: float | None = None) -> None:
        self.budget.add(parts)
        self.quarantine.succeeded()
        self.last_result = {"at": time.time() if now is None else now, "outcome": "sent", "error": None}

    def failed(self, exc: BaseException, code: str, *, maybe_left: int = 0, modem_gone: bool = False,
               now: float | None = None) -> None:
        """A failed send: `maybe_left` parts may have left all the same (an ambiguous outcome: they count against
        the budget); `modem_gone`: the modem was unplugged or hung (not the SIM's fault: the quarantine ignores it)."""
        now = time.time() if now is None else now
        self.budget.add(maybe_left)
        outcome = "unknown" if maybe_left else "failed"
        self.last_result = {"at": now, "outcome": outcome, "error": code}
        self.recent_errors.appendleft({"at": now, "error": code, "message": str(exc)})
        if modem_gone or not counts_against_sim(exc):
            return
        pause = self.quarantine.failed(code, now)
        if pause is not None:
            self.log.warning("[%s] %s: sending nothing for %.0f s", self.name, self.quarantine.text(), pause)

    def as_dict(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        held, _ = self._held_by(now)
        return {"sending": held or "ok", "budget": self.budget.as_dict(),
                "quarantine": self.quarantine.as_dict(now), "failures_in_a_row": self.quarantine.streak,
                "last_result": self.last_result, "recent_errors": list(self.recent_errors)}


def sends_now(state: dict) -> bool:
    """Can the modem a state dict describes (Daemon.modem_states(): this host's or another host's, as reported) send
    now? Ready, and not held off by its budget or a quarantine. /readyz, routing's waiting reasons and the fleet's
    view of other hosts all ask this one question."""
    return state.get("state") == "ready" and (state.get("health") or {}).get("sending", "ok") == "ok"


def held_off(state: dict) -> str | None:
    """Why a ready modem claims nothing now ("budget: day 2/2, until 00:00", "quarantined until ..."), or None."""
    sending = (state.get("health") or {}).get("sending", "ok")
    return None if sending == "ok" else sending


def _what(held: str | None) -> str:
    return "quarantine" if held and held.startswith("quarantined") else "budget period"
