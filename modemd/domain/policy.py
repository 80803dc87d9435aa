"""Policies as data: the OTP rules and message template, the retry policy, and per-modem pacing (pure).

Kept apart from the services that apply them (services/otp.py, services/outbox/) so the config layer can build and
validate them without importing a service.
"""

from __future__ import annotations

import functools
import random
import string
from dataclasses import dataclass, field

from ..codec import pdu

TEMPLATE_FIELDS = frozenset({"code", "app", "minutes"})


DEFAULT_TEMPLATE = "{code} is your {app} code. It expires in {minutes} minutes."


@dataclass(frozen=True)
class OtpSettings:
    app: str = "modemd"
    length: int = 6
    ttl: int = 300
    max_attempts: int = 5
    template: str = DEFAULT_TEMPLATE
    sends_per_number: int = 3
    sends_window: float = 600.0
    resend_gap: float = 30.0
    sends_per_token: int = 1000
    sends_per_token_window: float = 3600.0
    verifies_per_number: int = 20
    verifies_window: float = 600.0
    verifies_per_app: int = 6000        # checks per minute from one app, whatever they ask about (junk ids too)
    daily_per_country: int = 10000
    allowed_countries: frozenset[str] = field(default_factory=frozenset)   # empty = every country
    lock_after_failures: int = 100


class OtpError(Exception):
    """A request the service refuses; `field` names the input at fault."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def render(template: str, *, code: str, app: str, minutes: int) -> str:
    return template.format(code=code, app=app, minutes=minutes)


def with_app_name(template: str, app: str) -> str:
    """`template` with {app} written out as `app` (a caller's own brand, Twilio's CustomFriendlyName), {code} and
    {minutes} still to fill; braces in `app` escaped, so a name cannot add a field. For a template check_template
    accepted: plain fields only."""
    def escaped(text: str) -> str:
        return text.replace("{", "{{").replace("}", "}}")
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(escaped(literal))
        if name is not None:
            out.append(escaped(app) if name == "app" else "{" + name + "}")
    return "".join(out)


def check_template(template: str, app: str, length: int, ttl: int) -> None:
    """A template must contain {code}, render, and fit one GSM-7 part (OTP SMS must arrive whole and cheap)."""
    problem = _template_problem(template, app, length, max(1, ttl // 60))
    if problem:
        raise OtpError("template", problem)


@functools.lru_cache(maxsize=512)
def _template_problem(template: str, app: str, length: int, minutes: int) -> str | None:
    """What is wrong with a template, or None. Cached: it runs pdu.plan, and every send checks its template (the
    answer depends only on these four values; a code has `length` digits, all in the GSM alphabet)."""
    if "{code}" not in template:
        return "must contain {code}"
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return f"is not a valid template ({exc})"
    # Plain {code}/{app}/{minutes} only: str.format would otherwise reach attributes ({code.__class__}).
    if any(name not in TEMPLATE_FIELDS or spec or conv for name, spec, conv in fields):
        return "only {code}, {app} and {minutes} may be used, without formats"
    try:
        text = render(template, code="0" * length, app=app, minutes=minutes)
    except (KeyError, IndexError, ValueError) as exc:
        return f"only {{code}}, {{app}} and {{minutes}} may be used ({exc})"
    try:
        plan = pdu.plan(text)
    except pdu.PduError as exc:         # a lone surrogate, say: not text an SMS can carry
        return f"cannot be sent as an SMS ({exc})"
    if plan.encoding != "gsm7" or len(plan.parts) != 1:
        return "must fit one GSM-7 SMS part (160 characters of the GSM alphabet)"
    return None


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 5.0
    factor: float = 2.0
    cap: float = 600.0
    max_attempts: int = 8
    max_ambiguous: int = 1        # resends of a message whose earlier send may have gone out
    device_pause: float = 30.0    # how long a worker whose modem is in a bad state stays away from the queue

    def backoff(self, attempts: int) -> float:
        """Full jitter (AWS architecture blog): spreads retries of many messages over the whole window."""
        ceiling = min(self.cap, self.base * self.factor ** max(0, attempts - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Pacing:
    """Carriers bar SIMs that send in bursts; per_minute=0 means no limit."""
    per_minute: float = 0.0

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute if self.per_minute > 0 else 0.0


@dataclass(frozen=True)
class SimPolicy:
    """One SIM's budget and quarantine ([[modems]] sms_per_hour/day/month, quarantine_*; services/outbox/budget.py
    and quarantine.py apply them; docs/health.md). A budget of None has no cap; quarantine_after 0: never."""
    sms_per_hour: int | None = None
    sms_per_day: int | None = None
    sms_per_month: int | None = None
    quarantine_after: int = 5
    quarantine_time: float = 60.0
    quarantine_max: float = 3600.0

    @property
    def budgets(self) -> dict[str, int | None]:
        """The cap per clock period, by the period's name."""
        return {"hour": self.sms_per_hour, "day": self.sms_per_day, "month": self.sms_per_month}
